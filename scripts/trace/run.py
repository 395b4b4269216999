"""make trace: run the pinned code on a tiny random model and write what ran to traces/.

    python scripts/trace/run.py [--out traces] [--only RUN_ID ...] [--jobs 2] [--overhead]

Runs inside the trace venv (.marginalia/trace-venv), never the site's. The parent process
imports neither TensorFlow nor torch: it checks every pinned file's sha256, has a child make
the tiny models in a temporary folder, runs each run of runs.RUNS in a child process of its
own, and writes one JSON file per run. The files hold measurements only, in a fixed layout
(sorted keys, line numbers in numeric order, no timings, no paths), so the same code on the
same pins gives the same bytes; timings go to stderr. ``--overhead`` also times every run
without instrumentation and prints the ratio (it writes nothing).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(HERE))

from pinned import PinError, read_manifest, verified  # noqa: E402
from runs import BY_ID, RUNS, TINY, TINY_AIDUNGEON, Skipped, drive  # noqa: E402

SCHEMA = 1
# One thread for every numeric library, a fixed hash seed, oneDNN's reordering off: counts and
# sampled text are then the same run after run (TensorFlow's own message says oneDNN "may
# see slightly different numerical results").
CHILD_ENV = {
    "PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1", "TF_CPP_MIN_LOG_LEVEL": "3",
    "TF_ENABLE_ONEDNN_OPTS": "0", "TF_NUM_INTEROP_THREADS": "1", "TF_NUM_INTRAOP_THREADS": "1",
    "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
    "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1",
    "TRANSFORMERS_VERBOSITY": "error", "TOKENIZERS_PARALLELISM": "false",
}


def log(message: str) -> None:
    print(f"trace: {message}", file=sys.stderr, flush=True)


def canonical(value):
    """Dicts keyed by line numbers in numeric order, every other dict by sorted key."""
    if isinstance(value, dict):
        if value and all(isinstance(k, int) for k in value):
            return {str(k): canonical(value[k]) for k in sorted(value)}
        return {k: canonical(value[k]) for k in sorted(value)}
    if isinstance(value, (list, tuple)):
        return [canonical(v) for v in value]
    return value


def document(spec, result: dict, pinned: dict) -> str:
    by_key = {p.key: p for p in pinned.values()}

    def place(key, line):
        p = by_key[key]
        return {"codebase": p.codebase, "path": p.path, "line": line}

    outcome = dict(result["outcome"])
    if "file" in outcome:
        outcome.update(place(outcome.pop("file"), outcome.pop("line")))
    files = []
    for key, counts in sorted(result["files"].items()):
        p = by_key[key]
        files.append({"codebase": p.codebase, "path": p.path, "sha256": p.sha256, "class": p.code_class,
                      **{name: {int(k): v for k, v in counts[name].items()}
                         for name in ("statements", "calls", "ops", "ops_within") if name in counts}})
    doc = {"schema": SCHEMA, "id": spec.id, "title": spec.title, "codebase": spec.codebase, "entry": spec.entry,
           "engine": spec.engine, "settings": spec.settings, "environment": result["environment"],
           "outcome": outcome, "generations": result["generations"], "tokens": result["tokens"], "files": files}
    if "session_runs" in result:
        doc["session_runs"] = [{**(place(r["file"], r["line"]) if r["file"] else {}), "ops": r["ops"]}
                               for r in result["session_runs"]]
        doc["ops_unattributed"] = result["ops_unattributed"]
    files_sorted = sorted(doc["files"], key=lambda f: (f["codebase"], f["path"]))
    doc = canonical(doc)
    doc["files"] = [canonical(f) for f in files_sorted]  # keep files in (codebase, path) order
    return json.dumps(doc, indent=1, ensure_ascii=False) + "\n"


# ---------------------------------------------------------------------- children --

def child(args) -> int:
    if args.make_models:
        from tinymodel import make_model
        folder = Path(args.make_models)
        make_model(folder / "tiny", **TINY)
        make_model(folder / "aidungeon", **TINY_AIDUNGEON)
        return 0
    spec = BY_ID[args.child]
    pinned = read_manifest(Path(args.root))
    try:
        result, seconds = drive(spec, pinned, Path(args.cache) / "files", Path(args.models), Path(args.work),
                                instrument=not args.plain)
    except Skipped as reason:
        Path(args.result).write_text(json.dumps({"skipped": str(reason)}))
        return 0
    except PinError as error:
        print(f"trace: {error}", file=sys.stderr)
        return 2
    Path(args.result).write_text(json.dumps({"result": result, "seconds": seconds}))
    return 0


def spawn(argv: list[str], *, timeout: int = 900) -> subprocess.CompletedProcess:
    env = {**os.environ, **CHILD_ENV}
    return subprocess.run([sys.executable, str(Path(__file__).resolve()), *argv], env=env,
                          capture_output=True, text=True, timeout=timeout)


def run_one(spec, args, tmp: Path, *, plain: bool = False) -> dict:
    work = tmp / (("plain-" if plain else "") + spec.id)
    work.mkdir(parents=True)
    result_file = work / "result.json"
    started = time.perf_counter()
    done = spawn(["--child", spec.id, "--work", str(work), "--models", str(tmp / "models"),
                  "--result", str(result_file), "--cache", str(args.cache), "--root", str(ROOT),
                  *(["--plain"] if plain else [])])
    wall = time.perf_counter() - started
    if done.returncode != 0 or not result_file.exists():
        raise RuntimeError(f"{spec.id} failed (exit {done.returncode}):\n{done.stderr[-4000:]}")
    return {**json.loads(result_file.read_text()), "wall": wall}


# ------------------------------------------------------------------------ parent --

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "traces"))
    parser.add_argument("--cache", default=os.environ.get("MARGINALIA_CACHE", str(ROOT / ".marginalia" / "cache")))
    parser.add_argument("--only", nargs="*", choices=sorted(BY_ID))
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--overhead", action="store_true", help="also time each run uninstrumented; write nothing")
    parser.add_argument("--child", choices=sorted(BY_ID), help=argparse.SUPPRESS)
    parser.add_argument("--make-models", help=argparse.SUPPRESS)
    parser.add_argument("--work", help=argparse.SUPPRESS)
    parser.add_argument("--models", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    parser.add_argument("--root", default=str(ROOT), help=argparse.SUPPRESS)
    parser.add_argument("--plain", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child or args.make_models:
        return child(args)

    started = time.perf_counter()
    args.cache = Path(args.cache).resolve()
    pinned = read_manifest(ROOT)
    specs = [BY_ID[i] for i in args.only] if args.only else RUNS
    try:  # every file a TensorFlow run may load; transformers' are checked where they are installed
        for p in pinned.values():
            if p.codebase in ("gpt-2", "aidungeon") and (p.path.endswith(".py") or p.path.endswith(".txt")):
                verified(p, args.cache / "files" / p.codebase / p.path)
    except PinError as error:
        log(str(error))
        return 2
    out = Path(args.out)
    with tempfile.TemporaryDirectory(prefix="marginalia-trace-") as name:
        tmp = Path(name)
        if any(spec.engine == "tensorflow" for spec in specs):
            made = time.perf_counter()
            done = spawn(["--make-models", str(tmp / "models")])
            if done.returncode != 0:
                log(f"making the tiny models failed:\n{done.stderr[-4000:]}")
                return 1
            log(f"tiny models made in {time.perf_counter() - made:.1f} s")
        with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            results = dict(zip([s.id for s in specs], pool.map(lambda s: run_one(s, args, tmp), specs)))
            plain = (dict(zip([s.id for s in specs], pool.map(lambda s: run_one(s, args, tmp, plain=True), specs)))
                     if args.overhead else {})
    if not args.overhead:
        out.mkdir(parents=True, exist_ok=True)
    for spec in specs:
        outcome = results[spec.id]
        if "skipped" in outcome:
            log(f"{spec.id}: skipped, {outcome['skipped']}; traces/{spec.id}.json left as it is")
            continue
        line = (f"{spec.id}: {outcome['seconds']:.2f} s CPU in the pinned code, "
                f"{outcome['wall']:.1f} s wall with start-up")
        if spec.id in plain and "seconds" in plain[spec.id]:
            bare = plain[spec.id]["seconds"]
            line += f"; uninstrumented {bare:.2f} s CPU (tracing x{outcome['seconds'] / bare:.2f})"
        log(line)
        if not args.overhead:
            (out / f"{spec.id}.json").write_text(document(spec, outcome["result"], pinned), encoding="utf-8")
    if not args.overhead and not args.only:
        for stale in out.glob("*.json"):
            if stale.stem not in BY_ID:
                stale.unlink()
                log(f"removed {stale} (no such run any more)")
    log(f"done in {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
