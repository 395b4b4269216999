"""The runs: what is executed, with which settings, and how each is driven.

Every run happens in a fresh Python process (run.py starts one per run), seeded, with
TensorFlow and PyTorch on one thread, so a run's counts do not depend on what ran before it.
The drivers only set the stage (arguments, scripted input, seeds, working folder) and then
hand control to the pinned file with ``runpy``; the counting is in counting.py and graphops.py.
"""

from __future__ import annotations

import io
import os
import random
import runpy
import shutil
import sys
import time
from contextlib import redirect_stdout
from dataclasses import dataclass, field
from pathlib import Path

from counting import StatementCounter
from pinned import Pinned, verified

HERE = Path(__file__).resolve().parent
TINY = {"n_ctx": 64, "n_embd": 32, "n_head": 2, "n_layer": 2}
# AI Dungeon never shortens its prompt: the whole story so far goes to the model every turn,
# so a model with a 64-token window fails on the second turn. Its tiny model has GPT-2's 1024.
TINY_AIDUNGEON = {**TINY, "n_ctx": 1024}


@dataclass(frozen=True)
class RunSpec:
    id: str
    title: str
    kind: str            # "openai", "aidungeon" or "transformers"
    codebase: str
    entry: str           # the presented file the run starts from
    settings: dict = field(default_factory=dict)

    @property
    def engine(self) -> str:
        return "pytorch" if self.kind == "transformers" else "tensorflow"


OPENAI = {"seed": 42, "nsamples": 2, "batch_size": 1, "temperature": 1, "top_k": 0, "top_p": 1, "model": TINY}
RUNS = [
    RunSpec("gpt2-unconditional-10", "OpenAI's generate_unconditional_samples.py: 2 samples of 10 tokens",
            "openai", "gpt-2", "src/generate_unconditional_samples.py", {**OPENAI, "length": 10}),
    RunSpec("gpt2-unconditional-60", "OpenAI's generate_unconditional_samples.py: 2 samples of 60 tokens",
            "openai", "gpt-2", "src/generate_unconditional_samples.py", {**OPENAI, "length": 60}),
    RunSpec("gpt2-unconditional-batch2", "The same script with 2 samples per batch: it stops with a shape error",
            "openai", "gpt-2", "src/generate_unconditional_samples.py", {**OPENAI, "batch_size": 2, "length": 10}),
    RunSpec("gpt2-interactive-topk40", "OpenAI's interactive_conditional_samples.py: one prompt, top_k=40, 20 tokens",
            "openai", "gpt-2", "src/interactive_conditional_samples.py",
            {**OPENAI, "nsamples": 1, "length": 20, "top_k": 40, "stdin": ["The dragon"]}),
    RunSpec("aidungeon-play", "AI Dungeon's play.py: a new game and three actions, typed by a script",
            "aidungeon", "aidungeon", "play.py",
            {"seed": 42, "model": TINY_AIDUNGEON,
             "stdin": ["0", "1", "0", "0", "Ada", "look around", "I draw my sword", '"Who goes there?"']}),
    RunSpec("transformers-generate-10", "Hugging Face 5.24.0: GPT2LMHeadModel.generate, 2 samples of 10 tokens",
            "transformers", "transformers", "v5.24.0/models/gpt2/modeling_gpt2.py",
            {"seed": 42, "samples": 2, "max_new_tokens": 10, "do_sample": True, "top_k": 0, "model": TINY}),
    RunSpec("transformers-generate-60", "Hugging Face 5.24.0: GPT2LMHeadModel.generate, 2 samples of 60 tokens",
            "transformers", "transformers", "v5.24.0/models/gpt2/modeling_gpt2.py",
            {"seed": 42, "samples": 2, "max_new_tokens": 60, "do_sample": True, "top_k": 0, "model": TINY}),
]
BY_ID = {spec.id: spec for spec in RUNS}


class Skipped(Exception):
    """A run that cannot happen on this machine (no torch); it records nothing."""


# ------------------------------------------------------------------------- helpers --

def _seed(seed: int) -> None:
    random.seed(seed)
    import numpy as np
    np.random.seed(seed)


def _outcome(error: BaseException | None, files: dict[str, str]) -> dict:
    """How the run ended; for an exception, the innermost presented line it passed through."""
    if error is None:
        return {"status": "finished"}
    where = None
    tb = error.__traceback__
    while tb is not None:
        key = files.get(tb.tb_frame.f_code.co_filename)
        if key is not None:
            where = {"file": key, "line": tb.tb_lineno}
        tb = tb.tb_next
    status = "input-ended" if isinstance(error, EOFError) else "failed"
    message = str(error).strip().splitlines()[0][:300] if str(error).strip() else ""
    return {"status": status, "exception": type(error).__name__, "message": message, **(where or {})}


def _run_main(path: Path, argv: list[str], stdin_lines: list[str]) -> BaseException | None:
    """Run a pinned script as ``__main__`` with arguments and typed input; output discarded."""
    sys.argv = [str(path), *argv]
    sys.stdin = io.StringIO("".join(line + "\n" for line in stdin_lines))
    try:
        with redirect_stdout(io.StringIO()):
            runpy.run_path(str(path), run_name="__main__")
    except (Exception, SystemExit) as error:  # scripted input running out ends the game loops
        return error
    return None


def _file_entries(counter: StatementCounter, files: dict[str, str]) -> dict:
    out = {}
    for name, key in files.items():
        trace = counter.files[name]
        if not trace.entries and not trace.calls:
            continue  # never loaded in this run
        firsts = sorted({s.first for s in trace.map.statements})
        out[key] = {"statements": {line: trace.entries.get(line, 0) for line in firsts},
                    "calls": dict(sorted(trace.calls.items()))}
    return out


# ------------------------------------------------------------------------- drivers --

class _Off:
    """Stands in for the counters in a timing run without instrumentation (--overhead)."""

    def start(self) -> None:
        pass

    stop = start


def drive_tensorflow(spec: RunSpec, pinned: dict, cache: Path, models: Path, work: Path, instrument: bool):
    import shim  # noqa: F401  (tensorflow -> tf.compat.v1, tensorflow.contrib.training.HParams)
    import tensorflow as tf  # the 1.x API, through the shim
    from graphops import GraphTrace

    root = cache / spec.codebase
    files = {str(verified(p, root / p.path)): p.key for p in pinned.values()
             if p.codebase == spec.codebase and p.path.endswith(".py")}
    sources = {name: Path(name).read_text(encoding="utf-8") for name in files}
    counter = StatementCounter(sources)
    maps = {files[name]: counter.files[name].map for name in files}
    graph = GraphTrace(files, statement_of=lambda key, line: maps[key].innermost(line) or line)
    if instrument:
        graph.install()
    else:
        counter = _Off()
    s = spec.settings
    _seed(s["seed"])

    if spec.kind == "openai":
        src = root / "src"
        sys.path.insert(0, str(src))
        argv = ["--model_name", "tiny", "--models_dir", str(models), "--seed", str(s["seed"]),
                "--nsamples", str(s["nsamples"]), "--batch_size", str(s["batch_size"]),
                "--length", str(s["length"]), "--temperature", str(s["temperature"]),
                "--top_k", str(s["top_k"]), "--top_p", str(s["top_p"])]
        script = root / spec.entry
    else:  # AI Dungeon: its files import each other as packages from the repository root
        game = work / "aidungeon"
        (game / "story").mkdir(parents=True)
        shutil.copy(verified(pinned[("aidungeon", "story/censored_words.txt")],
                             root / "story/censored_words.txt"), game / "story/censored_words.txt")
        shutil.copy(HERE / "standins/story_data.yaml", game / "story/story_data.yaml")
        shutil.copy(HERE / "standins/opening.txt", game / "opening.txt")
        (game / "generator/gpt2/models").mkdir(parents=True)
        shutil.copytree(models / "aidungeon", game / "generator/gpt2/models/model_v5")
        os.chdir(game)
        # the repository root, plus our stand-in for the story.grammars package (not presented)
        sys.path[0:0] = [str(root), str(HERE / "standins")]
        tf.set_random_seed(s["seed"])  # play.py seeds nothing; the default graph takes this seed
        argv, script = [], root / spec.entry

    started = time.process_time()  # CPU time: a busy machine does not inflate it
    counter.start()
    error = _run_main(script, argv, s.get("stdin", []))
    counter.stop()
    elapsed = time.process_time() - started
    if not instrument:
        return None, elapsed

    per_file = _file_entries(counter, files)
    for (key, line), n in graph.ops.items():
        per_file[key].setdefault("ops", {})[line] = n
    for (key, line), n in graph.ops_within.items():
        per_file[key].setdefault("ops_within", {})[line] = n
    for entry in per_file.values():
        for name in ("ops", "ops_within"):
            if name in entry:
                entry[name] = dict(sorted(entry[name].items()))
    batch = s.get("batch_size", 1)
    return {
        "outcome": _outcome(error, files),
        "environment": {"python": "%d.%d" % sys.version_info[:2], "tensorflow": tf.version.VERSION,
                        "numpy": __import__("numpy").__version__},
        "generations": sum(1 for run in graph.runs if run.multinomial),
        "tokens": sum(run.multinomial for run in graph.runs) * batch,
        "session_runs": [{"file": run.caller[0] if run.caller else None,
                          "line": maps[run.caller[0]].innermost(run.caller[1]) if run.caller else None,
                          "ops": run.ops} for run in graph.runs],
        "ops_unattributed": graph.unattributed,
        "files": per_file,
    }, elapsed


def drive_transformers(spec: RunSpec, pinned: dict, cache: Path, models: Path, work: Path, instrument: bool):
    import importlib.util

    location = importlib.util.find_spec("transformers")
    base = Path(location.submodule_search_locations[0]).resolve()
    files = {}
    for p in pinned.values():
        if p.codebase == "transformers" and p.path.startswith("v5.24.0/"):
            # the installed wheel's copy must be byte-identical to the presented file
            files[str(verified(p, base / p.path.removeprefix("v5.24.0/")))] = p.key
    try:
        import torch
    except ImportError:
        raise Skipped("torch is not installed in the trace venv: no local CPU-only torch 2.13.0 wheel "
                      "was found when it was set up (see README, 'What runs')") from None
    torch.set_num_threads(1)
    s = spec.settings
    _seed(s["seed"])
    torch.manual_seed(s["seed"])
    counter = StatementCounter({name: Path(name).read_text(encoding="utf-8") for name in files})
    if not instrument:
        counter = _Off()
    tokens = 0
    started = time.process_time()  # CPU time: a busy machine does not inflate it
    counter.start()
    error = None
    try:
        with redirect_stdout(io.StringIO()):
            from transformers import GPT2Config, GPT2LMHeadModel
            m = s["model"]
            # No end-of-text id: like OpenAI's scripts, generation never stops early, and no
            # logits processor is added for it. Token 264 is the tiny vocabulary's <|endoftext|>.
            config = GPT2Config(vocab_size=265, n_positions=m["n_ctx"], n_embd=m["n_embd"], n_layer=m["n_layer"],
                                n_head=m["n_head"], bos_token_id=None, eos_token_id=None, pad_token_id=None)
            model = GPT2LMHeadModel(config).eval()
            start = torch.tensor([[264]])  # <|endoftext|>, as OpenAI's unconditional script starts
            for _ in range(s["samples"]):
                out = model.generate(start, max_new_tokens=s["max_new_tokens"], do_sample=s["do_sample"],
                                     top_k=s["top_k"])
                tokens += out.shape[1] - start.shape[1]
    except Exception as exc:
        error = exc
    counter.stop()
    elapsed = time.process_time() - started
    if not instrument:
        return None, elapsed
    import transformers
    return {
        "outcome": _outcome(error, files),
        "environment": {"python": "%d.%d" % sys.version_info[:2], "torch": torch.__version__,
                        "transformers": transformers.__version__, "numpy": __import__("numpy").__version__},
        "generations": s["samples"],
        "tokens": tokens,
        "files": _file_entries(counter, files),
    }, elapsed


def drive(spec: RunSpec, pinned: dict, cache: Path, models: Path, work: Path, instrument: bool = True):
    """Run ``spec``; return (its measurements, CPU seconds spent in the pinned code)."""
    kind = drive_transformers if spec.kind == "transformers" else drive_tensorflow
    return kind(spec, pinned, cache, models, work, instrument)
