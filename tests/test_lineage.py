"""Lineage: the format-blind comparison on small fixtures, the record's checks, the cache,
the nearest of several originals, and the rule that every change has a note."""

from __future__ import annotations

import dataclasses
import json
import textwrap
import types

import pytest

from helpers import FakeRegistry, make_wheel, sha256
from marginalia import lineage as L
from marginalia.manifest import parse_manifest
from marginalia.problems import InputError
from marginalia.sources import ArtifactSource, Cache, Extractor, QuietReporter, load_references

ORIGINAL = textwrap.dedent('''\
    """A sampler."""
    import os
    import json
    import math


    def top_k(logits, k):
        # keep the k best
        values = sorted(logits, reverse=True)[:k]
        return [x if x >= values[-1] else -1e10 for x in logits]


    def softmax(values):
        top = max(values)
        exps = [math.exp(v - top) for v in values]
        total = sum(exps)
        return [e / total for e in exps]


    def sample(logits, k=0, temperature=1.0):
        logits = [x / temperature for x in logits]
        if k:
            logits = top_k(logits, k)
        return softmax(logits)
    ''')

# The same program after a formatter: other quotes, line breaks, spacing, parentheses.
REFORMATTED = textwrap.dedent("""\
    '''A sampler.'''
    import os
    import json
    import math


    def top_k(logits,
              k):
        # keep the k best
        values = sorted(logits,
                        reverse = True)[: k]
        return [
            x if (x >= values[-1]) else -1e10
            for x in logits
        ]


    def softmax(values):
        top = max(values)
        exps = [math.exp(v - top) for v in values]
        total = sum(exps)
        return [(e / total) for e in exps]


    def sample(logits, k = 0, temperature = 1.0):
        logits = [x / temperature for x in logits]
        if k:
            logits = top_k(logits, k)
        return softmax(logits)
    """)


def lines_of(text: str, needle: str) -> int:
    return next(n for n, line in enumerate(text.split("\n"), start=1) if needle in line)


# ------------------------------------------------------------- the comparison --

def test_reformatted_only_gives_no_hunk():
    assert L.raw_changed_lines(ORIGINAL, REFORMATTED) > 10  # a line diff sees many changes
    c = L.compare_files(ORIGINAL, REFORMATTED)
    assert c.mode == "file"
    assert c.hunks == () and c.moves == () and c.comments == ()
    assert c.finding == "formatting only"
    assert c.same_statements == c.a_statements == c.b_statements


def test_inserted_function_is_one_hunk_with_its_lines():
    inserted = "\n\ndef penalize(logits, used):\n    # mine\n    return [x * 0.85 if i in used else x for i, x in enumerate(logits)]\n"
    copy = REFORMATTED.replace("\n\ndef softmax(", inserted + "\n\ndef softmax(")
    c = L.compare_files(ORIGINAL, copy)
    (hunk,) = c.hunks
    start = lines_of(copy, "def penalize")
    assert hunk.b == ((start, start + 2),)
    assert hunk.a == ()
    assert hunk.a_at == lines_of(ORIGINAL, "return [x if x >= values")  # inserted after top_k's last line
    assert "penalize" in hunk.what
    assert c.finding == "1 change"
    (comment,) = c.comments  # the new function's comment, reported apart from the statements
    assert comment.kind == "added" and comment.b == ((start + 1, "mine"),)


def test_a_moved_block_is_a_move_not_a_deletion_and_an_insertion():
    block = ORIGINAL[ORIGINAL.index("def top_k"):ORIGINAL.index("def softmax")]  # three statements
    moved = ORIGINAL.replace(block, "") + "\n\n" + block
    c = L.compare_files(ORIGINAL, moved)
    assert c.hunks == ()
    (move,) = c.moves
    assert move.statements == 3 and not move.imports
    assert move.a == (lines_of(ORIGINAL, "def top_k"), lines_of(ORIGINAL, "return [x if"))
    assert move.b == (lines_of(moved, "def top_k"), lines_of(moved, "return [x if"))
    assert c.finding == "formatting and statements moved only"
    assert {r.kind for r in c.regions} == {"same", "move"}


def test_reordered_imports_are_moves_but_a_single_moved_statement_is_not():
    reordered = ORIGINAL.replace("import os\nimport json\n", "import json\nimport os\n")
    c = L.compare_files(ORIGINAL, reordered)
    assert c.hunks == () and c.moves and all(m.imports for m in c.moves)
    assert c.finding == "formatting and imports reordered only"
    swapped = ORIGINAL.replace("    top = max(values)\n    exps = [math.exp(v - top) for v in values]\n",
                               "    exps = [math.exp(v - top) for v in values]\n    top = max(values)\n")
    assert swapped != ORIGINAL
    assert len(L.compare_files(ORIGINAL, swapped).hunks) >= 1  # order matters for ordinary statements


def test_a_changed_comment_is_no_semantic_change_but_is_listed():
    copy = ORIGINAL.replace("# keep the k best", "# keep the k best, as in the paper")
    c = L.compare_files(ORIGINAL, copy)
    assert c.hunks == ()
    (comment,) = c.comments
    assert comment.kind == "changed" and comment.a[0][1] == "keep the k best"


def test_nesting_counts_statements_that_change_block_are_changes():
    copy = ORIGINAL.replace("    if k:\n        logits = top_k(logits, k)\n",
                            "    if k:\n        pass\n    logits = top_k(logits, k)\n")
    assert copy != ORIGINAL
    c = L.compare_files(ORIGINAL, copy)
    assert len(c.hunks) == 1


def test_a_renamed_class_is_paired_with_its_original():
    old = textwrap.dedent('''\
        import torch


        class Attention(torch.nn.Module):
            def __init__(self, n_state, config):
                super().__init__()
                self.n_head = config.n_head
                self.split_size = n_state

            def forward(self, x):
                return self.c_proj(self.c_attn(x))


        class Block(torch.nn.Module):
            def forward(self, x):
                return x + self.attn(self.ln_1(x))
        ''')
    new = textwrap.dedent('''\
        from torch import nn
        from dataclasses import dataclass


        @dataclass
        class Output:
            logits: object = None


        class GPT2Attention(nn.Module):
            def __init__(self, config, layer_idx=None):
                super().__init__()
                self.num_heads = config.num_attention_heads
                self.layer_idx = layer_idx

            def forward(self, hidden_states, **kwargs):
                query, key, value = self.c_attn(hidden_states).split(self.split_size, dim=2)
                return self.c_proj(self.attend(query, key, value)), None


        class GPT2Block(nn.Module):
            def forward(self, hidden_states):
                residual = hidden_states
                return residual + self.attn(self.ln_1(hidden_states))[0]
        ''')
    c = L.compare_versions(old, new)
    assert c.mode == "units"
    pairs = {(p.a.name, p.b.name): p for p in c.pairs if p.how != "module"}
    assert set(pairs) == {("Attention", "GPT2Attention"), ("Block", "GPT2Block")}
    assert all(p.how == "renamed" for p in pairs.values())
    assert all(0 <= p.ratio < 1 for p in pairs.values())
    assert [u.name for u in c.added] == ["Output"]
    kinds = sorted(h.kind for h in c.hunks)
    assert "added" in kinds and "module" in kinds


def test_a_partial_copy_pairs_functions_by_name_prefix_and_similarity():
    library = ORIGINAL + "\n\nclass Model:\n    def generate(self, logits, k=0):\n        scores = sample(logits, k)\n" \
        "        best = max(range(len(scores)), key=scores.__getitem__)\n        return best\n\n" \
        "    def save(self, path):\n        open(path, 'w').write('x')\n" + "\n".join(
            f"\n\ndef helper_{n}(x):\n    return x + {n}\n" for n in range(40))
    copy = textwrap.dedent('''\
        import random


        def custom_generate(self, logits, k=0, hook=None):
            scores = sample(logits, k)
            if hook is not None:
                scores = hook(scores)
            best = max(range(len(scores)), key=scores.__getitem__)
            return best


        def softmax(values):
            top = max(values)
            exps = [math.exp(v - top) for v in values]
            total = sum(exps)
            return [e / total for e in exps]
        ''')
    c = L.compare_files(library, copy)
    assert c.mode == "units" and c.ratio < L.SAME_FILE
    pairs = {p.b.name: p for p in c.pairs}
    assert pairs["custom_generate"].a.name == "Model.generate" and pairs["custom_generate"].how == "renamed"
    assert pairs["softmax"].how == "same name" and pairs["softmax"].ratio == 1.0
    module_hunk, header_hunk, hook_hunk = c.hunks  # the new import; the changed header; the hook
    assert module_hunk.kind == "module" and module_hunk.a == ()  # what the copy did not take is not a change
    assert module_hunk.b == ((1, 1),)
    assert header_hunk.b == ((lines_of(copy, "def custom_generate"),) * 2,)
    assert hook_hunk.b == ((lines_of(copy, "if hook"), lines_of(copy, "scores = hook")),)
    assert c.not_copied == 42  # top_k, sample and forty helpers


def test_results_survive_a_json_round_trip():
    c = L.compare_files(ORIGINAL, REFORMATTED.replace("import json\n", "import json\nimport sys\n"))
    back = L.from_json(L.Comparison, json.loads(json.dumps(L.to_json(c))))
    assert back == c


# ------------------------------------------------------------------- the record --

MANIFEST = '''schema = 1
[artifacts.pkg]
url = "https://files.example.org/pkg-1.0-py3-none-any.whl"
sha256 = "%(pkg)s"
[codebases.up]
title = "Upstream"
authors = "U"
summary = "S"
upstream = "https://example.org/up"
licence = "MIT"
[codebases.up.pins.main]
git = "https://example.org/up.git"
commit = "%(commit)s"
label = "x"
browse = "https://github.com/up/up/blob/{commit}/{member}"
[[codebases.up.files]]
path = "sample.py"
sha256 = "%(a)s"
class = "boundary"
[[codebases.up.files]]
path = "copy.py"
sha256 = "%(b)s"
class = "boundary"
[[codebases.up.files]]
path = "LICENSE"
sha256 = "%(lic)s"
class = "boundary"
[references.pkg-sample]
label = "pkg 1.0"
path = "pkg/sample.py"
artifact = "pkg"
member = "pkg/sample.py"
sha256 = "%(a)s"
browse = "https://pypi.org/project/pkg/1.0/"
'''


def manifest(a: str = ORIGINAL, b: str = REFORMATTED, pkg: str = "0" * 64):
    return parse_manifest(MANIFEST % {"pkg": pkg, "commit": "c" * 40, "a": sha256(a), "b": sha256(b), "lic": "e" * 64})


RECORD = '''# a comment
[[relation]]
id = "demo"
kind = "modified"
original = "up/sample.py"
copy = "up/copy.py"
title = "Demo"
summary = "A demonstration."

[[relation]]
id = "mirror"
kind = "identical"
original = "up/sample.py"
copy = "reference:pkg-sample"
title = "Mirror"
summary = "A byte-identical copy."
'''


def test_a_good_record_resolves_presented_files_and_references():
    record = L.parse_record(RECORD)
    problems, resolved = L.check_record(record, manifest())
    assert problems == []
    originals, copy = resolved["mirror"]
    assert originals[0].presented and not copy.presented and copy.owner == "pkg 1.0"
    assert record.line(1) == 10 and record.line(0, "copy") == 6


@pytest.mark.parametrize("change, message", [
    (('copy = "up/copy.py"', 'copy = "up/nope.py"'), ":6: relation demo: 'up/nope.py': not a presented file of up; did you mean up/copy.py?"),
    (('original = "up/sample.py"\ncopy = "up/copy.py"', 'original = "gone/sample.py"\ncopy = "up/copy.py"'),
     ":5: relation demo: 'gone/sample.py': unknown codebase 'gone'"),
    (('copy = "reference:pkg-sample"', 'copy = "reference:nope"'), ":14: relation mirror: 'reference:nope': no such reference in sources.toml (known: pkg-sample)"),
    (('id = "mirror"\nkind = "identical"\noriginal = "up/sample.py"', 'id = "mirror"\nkind = "identical"\noriginal = "up/copy.py"'),
     ":12: relation mirror: recorded as identical, but the sha256 in sources.toml differ"),
    (('kind = "modified"\noriginal = "up/sample.py"\ncopy = "up/copy.py"', 'kind = "modified"\noriginal = "up/sample.py"\ncopy = "reference:pkg-sample"'),
     ':4: relation demo: up/sample.py and reference:pkg-sample have the same sha256: record them as kind = "identical"'),
    (('id = "mirror"', 'id = "demo"'), ':11: relation demo: duplicate id (first on line 3)'),
    (('copy = "up/copy.py"', 'copy = "up/LICENSE"'), ":6: relation demo: up/LICENSE is not Python: only an identical copy can be recorded for it"),
])
def test_record_problems_are_located(change, message):
    old, new = change
    assert old in RECORD
    record = L.parse_record(RECORD.replace(old, new, 1))
    problems, _ = L.check_record(record, manifest())
    assert any(message in str(p) for p in problems), [str(p) for p in problems]
    assert all(str(p).startswith("annotations/lineage.toml:") for p in problems)


def test_record_schema_problems_name_the_line():
    with pytest.raises(InputError) as caught:
        L.parse_record(RECORD.replace('kind = "modified"', 'kind = "borrowed"').replace('summary = "A byte', 'colour = "x"\nsummary = "A byte'))
    messages = [str(p) for p in caught.value.problems]
    assert any(m.startswith("annotations/lineage.toml:4: kind:") for m in messages), messages
    assert any(m == "annotations/lineage.toml:16: colour: unknown field" for m in messages), messages


# ------------------------------------------------------------- computing it all --

class _Source:
    def __init__(self, text):
        self.text, self.absent_reason = text, None


def test_results_are_cached_by_content_and_the_nearest_original_wins(tmp_path, monkeypatch):
    near = REFORMATTED.replace("import math\n", "import math\nimport sys\n")
    m = manifest(b=near)
    relation = L.parse_record(RECORD).relations[0]
    _, resolved = L.check_record(L.parse_record(RECORD), m)
    sample, copy = resolved["demo"][0][0], resolved["demo"][1]
    far = L.FileSide("up/far.py", "Upstream", "far.py", "x", "f" * 64, "https://example.org", False, "up", "far.py")
    sources = {("up", "sample.py"): _Source(ORIGINAL), ("up", "copy.py"): _Source(near),
               ("up", "far.py"): _Source(ORIGINAL.replace("def sample(", "def other(x):\n    return x\n\n\ndef sample("))}
    cache = Cache(tmp_path)
    result = L.compute_relation(relation, [far, sample], copy, sources, {}, cache)
    assert result.original.address == "up/sample.py"
    assert [c.side.address for c in result.candidates] == ["up/far.py", "up/sample.py"]
    assert result.candidates[1].score > result.candidates[0].score
    assert len(list((tmp_path / "lineage").glob("*.json"))) == 1
    calls = []
    compute = L._compute
    monkeypatch.setattr(L, "_compute", lambda *a: calls.append(a) or compute(*a))
    assert L.compute_relation(relation, [far, sample], copy, sources, {}, cache) == result
    assert calls == []  # a warm cache compares nothing
    sources[("up", "copy.py")] = _Source(near + "x = 1\n")  # another copy is another key
    L.compute_relation(relation, [far, sample], dataclasses.replace(copy, sha256=sha256(near + "x = 1\n")),
                       sources, {}, cache)
    assert len(calls) == 1


def test_every_change_needs_a_note_on_the_copys_lines(tmp_path):
    copy = REFORMATTED.replace("\n\ndef softmax(", "\n\ndef penalize(x):\n    return x * 0.85\n\n\ndef softmax(")
    m = manifest(b=copy)
    start = lines_of(copy, "def penalize")
    (tmp_path / "lineage.toml").write_text(RECORD.split("[[relation]]\nid = \"mirror\"")[0])
    sources = {("up", "sample.py"): _Source(ORIGINAL), ("up", "copy.py"): _Source(copy)}
    lineage = L.load_lineage(tmp_path / "lineage.toml", m, sources, {}, [], None)
    assert [str(p) for p in lineage.problems] == [
        f"annotations/lineage.toml:2: relation demo: change 1 (lines {start}–{start + 1} of Upstream copy.py: "
        "added: def penalize(x):) has no note; write one whose lines overlap it"]

    note = types.SimpleNamespace(codebase="up", path="copy.py", start=start + 1, end=start + 1, id="n")
    lineage = L.load_lineage(tmp_path / "lineage.toml", m, sources, {}, [note], None)
    assert lineage.problems == ()
    result = lineage.results["demo"]
    assert L.notes_on(result.comparison.hunks[0], result.original, result.copy, [note]) == [note]


def test_no_record_means_no_relations(tmp_path):
    lineage = L.load_lineage(tmp_path / "missing.toml", manifest(), {}, {}, [], None)
    assert lineage.relations == () and lineage.problems == ()


# ------------------------------------------------------------ references (manifest) --

def test_references_are_extracted_and_verified_like_presented_files(tmp_path):
    member = ORIGINAL.encode()
    registry = FakeRegistry()
    wheel = make_wheel(tmp_path / "pkg.whl", {"pkg/sample.py": member})
    registry.add("https://files.example.org/pkg-1.0-py3-none-any.whl", wheel)
    m = manifest(pkg=sha256(wheel))
    cache = Cache(tmp_path / "cache")
    extractor = Extractor(m, cache, QuietReporter(), artifacts=ArtifactSource(cache, opener=registry))
    report = extractor.run()
    assert ("references", "pkg-sample") in report.extracted
    assert load_references(m, cache)["pkg-sample"].text == ORIGINAL
    again = Extractor(m, cache, QuietReporter(), artifacts=ArtifactSource(cache, opener=registry)).run()
    assert ("references", "pkg-sample") in again.from_cache
    (cache.reference_path("pkg-sample")).write_text("tampered")
    assert load_references(m, cache)["pkg-sample"].text is None


def test_a_reference_must_agree_with_a_mirror_of_the_same_member():
    text = (MANIFEST % {"pkg": "0" * 64, "commit": "c" * 40, "a": sha256(ORIGINAL), "b": sha256(REFORMATTED), "lic": "e" * 64})
    text = text.replace('path = "copy.py"', 'path = "copy.py"\nmirrors = [{ artifact = "pkg", member = "pkg/sample.py" }]')
    with pytest.raises(InputError) as caught:
        parse_manifest(text)
    assert "references.pkg-sample: the same member is a mirror of up/copy.py, whose sha256 differs" in str(caught.value)
    with pytest.raises(InputError):
        parse_manifest(text.replace('artifact = "pkg"\nmember = "pkg/sample.py"\nsha256', 'artifact = "nope"\nmember = "pkg/sample.py"\nsha256'))


# ------------------------------------------------------------------ the project --

def test_the_project_record_checks_against_the_manifest_and_uses_every_reference():
    from conftest import ROOT
    from marginalia.manifest import load_manifest

    real = load_manifest(ROOT / "sources.toml")
    record = L.load_record(ROOT / "annotations" / "lineage.toml")
    problems, resolved = L.check_record(record, real)
    assert problems == [] and len(resolved) == len(record.relations) >= 7
    used = {a for r in record.relations for a in (*r.originals, r.copy_)}
    assert {f"reference:{ref}" for ref in real.references} <= used, "a reference no relation compares"
    kinds = {r.id: r.kind.value for r in record.relations}
    assert kinds["openai-gpt2simple-model"] == kinds["aidungeon-storybro-model"] == "identical"
    assert kinds["huggingface-gpt2-2-8-to-5-24"] == "version"
