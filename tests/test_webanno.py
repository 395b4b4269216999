"""W3C Web Annotation export and import: selectors that re-find every note, a round trip that
keeps every note, and import input that tries to break things."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from conftest import copy_real_project
from helpers import ROOT, SAMPLE_PY, make_project, note_text, run_marginalia, skip_unless_extracted
from marginalia import webanno
from marginalia.citation import NoteHistory, site_url
from marginalia.manifest import load_manifest
from marginalia.notes import load_notes
from marginalia.site import Project, load_inputs
from marginalia.sources import Cache, load_sources

SITE = "https://example.org/marginalia/"


@pytest.fixture(scope="module")
def real():
    inputs = load_inputs(Project(ROOT))
    extracted = [n for n in inputs.notes.notes if inputs.sources[(n.codebase, n.path)].text is not None]
    if not extracted:
        pytest.skip("no presented file is extracted here (make extract)")
    return inputs, extracted


@pytest.fixture(scope="module")
def exported(real):
    inputs, extracted = real
    data, skipped = webanno.collection(inputs.notes.notes, inputs.sources, inputs.manifest, SITE,
                                       NoteHistory.read(ROOT))
    assert len(skipped) == len(inputs.notes.notes) - len(extracted)
    return data


def _selectors(annotation):
    return {s["type"]: s for s in annotation["target"]["selector"]}


def test_every_note_is_refound_by_all_three_selectors(real, exported):
    inputs, extracted = real
    by_id = {a["id"]: a for a in exported["first"]["items"]}
    assert len(by_id) == len(extracted) == exported["total"]
    for note in extracted:
        text = inputs.sources[(note.codebase, note.path)].text
        selectors = _selectors(by_id[f"{SITE}notes/{note.id}/"])
        quote, position, fragment = (selectors[k] for k in ("TextQuoteSelector", "TextPositionSelector",
                                                               "FragmentSelector"))
        exact = quote["exact"]
        assert exact.startswith(note.quote.strip()), note.id
        assert text.count(quote["prefix"] + exact + quote["suffix"]) == 1, note.id
        assert text[position["start"]:position["end"]] == exact, note.id  # code points, 0-based, end exclusive
        assert fragment["conformsTo"] == "http://tools.ietf.org/rfc/rfc5147"
        assert fragment["value"] == f"line={note.start - 1},{note.end}", note.id
        whole_lines = webanno.rfc5147_lines(text, fragment["value"])
        assert whole_lines.strip("\n").lstrip() == exact, note.id  # the same text, whole lines
        assert whole_lines.endswith("\n") or text.endswith(whole_lines)


def test_positions_count_code_points_not_bytes():
    text = "x = '¡¬®ÿ'\ny = 1\n    z = 'é'\n"
    (quote, position, fragment) = webanno.selectors(text, 3, 3)
    assert quote["exact"] == "z = 'é'" and (position["start"], position["end"]) == (21, 28)
    assert fragment["value"] == "line=2,3"


def test_the_collection_is_w3c_json_ld_with_checked_vocabulary(exported):
    assert exported["@context"] == "http://www.w3.org/ns/anno.jsonld"
    assert exported["type"] == "AnnotationCollection" and exported["first"]["type"] == "AnnotationPage"
    ids = [a["id"].removeprefix(SITE + "notes/").rstrip("/") for a in exported["first"]["items"]]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    for annotation in exported["first"]["items"]:
        assert annotation["type"] == "Annotation" and annotation["motivation"] in webanno.MOTIVATIONS
        assert "@context" not in annotation  # the collection's context applies
        for body in annotation["body"]:
            assert body["type"] == "TextualBody" and body["purpose"] in webanno.MOTIVATIONS
        (comment,) = [b for b in annotation["body"] if b["purpose"] == "commenting"]
        assert comment["format"] == "text/markdown"
        (cls,) = [b for b in annotation["body"] if b["purpose"] == "classifying"]
        assert cls["value"] in webanno.CLASSES
        assert {c["type"] for c in annotation["creator"]} <= {"Person", "Organization"}
        assert annotation["generator"]["type"] == "Software"
        target = annotation["target"]
        assert target["type"] == "SpecificResource" and target["scope"].startswith(SITE + "code/")
        assert target["source"].startswith(("https://raw.githubusercontent.com/", "jar:https://files.pythonhosted.org/"))
        assert {s["type"] for s in target["selector"]} <= webanno.SELECTORS
        assert set(annotation) <= {"id", "type", "label", "motivation", "creator", "generator", "rights", "body",
                                   "target", "created", "modified"}


def test_git_targets_are_raw_files_at_the_pin_and_wheel_files_are_jar_urls(real):
    inputs, _ = real
    targets = webanno.file_targets(inputs.manifest, SITE)
    assert targets[("gpt-2", "src/model.py")].source == (
        "https://raw.githubusercontent.com/openai/gpt-2/9b63575ef42771a015060c964af2c3da4cf7c8ab/src/model.py")
    hf = targets[("transformers", "v2.8.0/modeling_gpt2.py")]
    assert hf.source.startswith("jar:https://files.pythonhosted.org/") and hf.source.endswith(
        "transformers-2.8.0-py3-none-any.whl!/transformers/modeling_gpt2.py")
    assert hf.scope == SITE + "code/transformers/v2.8.0/modeling_gpt2.py/"


def test_export_is_deterministic_and_one_note_is_one_annotation(real, exported):
    inputs, extracted = real
    again, _ = webanno.collection(reversed(inputs.notes.notes), inputs.sources, inputs.manifest, SITE,
                                  NoteHistory.read(ROOT))
    assert webanno.dumps(again) == webanno.dumps(exported)
    note = extracted[0]
    single = webanno.note_annotation(note, inputs.manifest, inputs.sources, SITE, NoteHistory.read(ROOT).of(note.file))
    listed = next(a for a in exported["first"]["items"] if a["id"] == single["id"])
    assert single == {"@context": "http://www.w3.org/ns/anno.jsonld", **listed}


# ---------------------------------------------------------------------- round trip --

@pytest.fixture(scope="module")
def empty_copy(tmp_path_factory):
    """The real project without its notes (sharing the source cache)."""
    root = copy_real_project(tmp_path_factory.mktemp("import") / "project")
    for note in (root / "annotations").glob("*/*.md"):
        note.unlink()
    return root


def test_export_then_import_reproduces_every_note(real, exported, empty_copy, tmp_path):
    skip_unless_extracted(ROOT)  # notes link to each other: a partial set does not check
    inputs, extracted = real
    export_file = tmp_path / "annotations.jsonld"
    export_file.write_text(webanno.dumps(exported))
    result = run_marginalia(empty_copy, "import", str(export_file), env={"SITE_URL": SITE})
    assert result.returncode == 0, result.stderr[-3000:]
    assert "could not anchor" not in result.stderr and "targets" not in result.stderr
    imported = {n.id: n for n in load_notes(empty_copy / "annotations", empty_copy).notes}
    assert len(imported) == len(extracted)
    for note in extracted:
        back = imported[note.id]
        assert (back.codebase, back.path, back.start, back.end) == (note.codebase, note.path, note.start, note.end)
        assert back.code_class == note.code_class and back.tags == note.tags and back.body == note.body
        assert back.title == note.title and back.authors == note.authors and back.quote == note.quote.strip()
        assert back.file == f"annotations/{note.codebase}/{note.id}.md"
    # the drafts are notes the checker accepts (see_also and cites are not exchanged)
    check = run_marginalia(empty_copy, "check", "--allow-missing")
    assert ", 0 with problems" in check.stderr, check.stderr[-3000:]
    # importing again writes nothing: every id exists now
    again = run_marginalia(empty_copy, "import", str(export_file), env={"SITE_URL": SITE})
    assert "already exists; not imported" in again.stderr and again.stdout == ""


# ----------------------------------------------------------------- hostile input --

CODE = SAMPLE_PY + "\n\ndef again(values):\n    top = max(values)\n    return top\n"


@pytest.fixture
def small(tmp_path):
    root = make_project(tmp_path, {"gpt-2": {"src/sample.py": CODE}},
                        {"gpt-2/gpt2-existing.md": note_text("gpt2-existing", "gpt-2", "src/sample.py", "7",
                                                             "top = max(values)")})
    assert run_marginalia(root, "extract").returncode == 0
    return root


def _import(root, data, tmp_path, *args):
    file = tmp_path / "in.json"
    file.write_text(data if isinstance(data, str) else json.dumps(data))
    return run_marginalia(root, "import", str(file), *args, env={"SITE_URL": SITE})


def _annotation(exact, prefix="", suffix="", *, source=SITE + "code/gpt-2/src/sample.py/", body="A comment.",
                fmt="text/markdown", ident=None, extra_bodies=()):
    item = {"type": "Annotation", "motivation": "commenting",
            "body": [{"type": "TextualBody", "value": body, "format": fmt}, *extra_bodies],
            "target": {"source": source, "selector": [{"type": "TextQuoteSelector", "exact": exact,
                                                       "prefix": prefix, "suffix": suffix}]}}
    if ident:
        item["id"] = ident
    return item


def _written(root):
    return sorted(p.relative_to(root).as_posix() for p in (root / "annotations").glob("*/*.md"))


def test_prefix_and_suffix_decide_between_repeated_quotes(small, tmp_path):
    ambiguous = _annotation("top = max(values)")
    chosen = _annotation("top = max(values)", prefix="def again(values):\n    ", suffix="\n    return top",
                         ident="urn:x:1")
    result = _import(small, [ambiguous, chosen], tmp_path)
    assert "occurs 2 times" in result.stderr and "do not tell which one" in result.stderr
    (name,) = result.stdout.split()
    text = (small / name).read_text()
    assert "\nlines: 24\n" in text and "\nsymbol: sample.again\n" in text
    assert name.startswith("annotations/gpt-2/imported-top-max-values-")
    assert "title: '{{title:" in text  # no label: a placeholder make check refuses
    check = run_marginalia(small, "check")
    assert check.returncode == 1 and "title: fill in the placeholder" in check.stderr


def test_wrong_file_and_unanchorable_quotes_are_reported_and_nothing_is_written(small, tmp_path):
    before = _written(small)
    result = _import(small, [
        _annotation("top = max(values)", source="https://example.com/other/file.py"),
        _annotation("this text is nowhere", ident="urn:x:2"),
        _annotation("x", source=SITE + "code/gpt-2/src/secret.py/"),
        {"type": "Annotation", "target": SITE + "code/gpt-2/src/sample.py/"},
        "not an object",
    ], tmp_path)
    assert result.returncode == 1
    assert "targets https://example.com/other/file.py, which is not a file presented on this site" in result.stderr
    assert "urn:x:2: could not anchor in gpt-2/src/sample.py: the quoted text is not in the pinned file" in result.stderr
    assert "no TextQuoteSelector" in result.stderr and "not an annotation object" in result.stderr
    assert _written(small) == before


def test_duplicate_ids_and_existing_notes_are_never_written_twice(small, tmp_path):
    ours = f"{SITE}notes/gpt2-softmax-note/"
    first = _annotation("def softmax(values):", ident=ours)
    result = _import(small, [first, dict(first), _annotation("class Sampler:", ident=f"{SITE}notes/gpt2-existing/")],
                     tmp_path)
    assert result.stdout.split() == ["annotations/gpt-2/gpt2-softmax-note.md"]
    assert "the same annotation id appears again" in result.stderr
    assert "a note with id 'gpt2-existing' already exists; not imported" in result.stderr
    before = (small / "annotations/gpt-2/gpt2-softmax-note.md").read_text()
    again = _import(small, [_annotation("class Sampler:", ident=ours)], tmp_path)
    assert "already exists" in again.stderr
    assert (small / "annotations/gpt-2/gpt2-softmax-note.md").read_text() == before


def test_ids_cannot_escape_the_annotations_folder(small, tmp_path):
    hostile = [_annotation("def softmax(values):", ident=f"{SITE}notes/../../../etc/passwd/"),
               _annotation("class Sampler:", ident=f"{SITE}notes/..%2F..%2Fescape/"),
               _annotation("def step(self, logits):", ident="../../escape")]
    result = _import(small, hostile, tmp_path)
    written = result.stdout.split()
    assert len(written) == 3 and all(w.startswith("annotations/gpt-2/imported-") for w in written)
    assert not list(tmp_path.rglob("escape*")) and not (small / "etc").exists()


def test_html_in_bodies_is_escaped_or_converted(small, tmp_path):
    result = _import(small, [
        _annotation("def softmax(values):", body="Look <script>alert(1)</script> here, `a<b` stays.\n\n```\n<b>\n```",
                    ident="urn:x:html1"),
        _annotation("class Sampler:", body="<p>An <b>HTML</b> body &amp; more</p>", fmt="text/html", ident="urn:x:h2"),
    ], tmp_path)
    assert "raw HTML in the body was escaped" in result.stderr and "HTML body was converted" in result.stderr
    texts = [(small / name).read_text() for name in result.stdout.split()]
    assert "Look &lt;script>alert(1)&lt;/script> here, `a<b` stays.\n\n```\n<b>\n```" in texts[0]
    assert texts[1].rstrip().endswith("An HTML body & more")
    check = run_marginalia(small, "check")
    assert "raw HTML" not in check.stderr  # the checker's rule holds for the drafts


def test_huge_deep_and_malformed_json_is_refused_with_a_clear_message(small, tmp_path, monkeypatch):
    before = _written(small)
    malformed = _import(small, '{"type": "AnnotationCollection",\n "first": [1, 2,, 3]}', tmp_path)
    assert malformed.returncode == 1 and "in.json:2:" in malformed.stderr and "not valid JSON" in malformed.stderr
    deep = _import(small, "[" * 100_000 + "]" * 100_000, tmp_path)
    assert deep.returncode == 1 and "nested" in deep.stderr
    shape = _import(small, '{"hello": "world"}', tmp_path)
    assert shape.returncode == 1 and "neither annotations nor a collection" in shape.stderr
    huge = tmp_path / "huge.json"
    with huge.open("w") as stream:
        stream.write('{"type": "AnnotationPage", "items": ["' + "x" * (webanno.MAX_IMPORT_BYTES + 10) + '"]}')
    result = run_marginalia(small, "import", str(huge))
    assert result.returncode == 1 and "more than 16,777,216 bytes" in result.stderr
    assert "nothing written" in result.stderr
    assert _written(small) == before


def test_unknown_vocabulary_is_reported_not_trusted(small, tmp_path):
    item = _annotation("def softmax(values):", ident="urn:x:v", extra_bodies=[
        {"type": "TextualBody", "purpose": "taging", "value": "typo"},
        {"type": "TextualBody", "purpose": "classifying", "value": "core"},
        {"type": "TextualBody", "purpose": "tagging", "value": "Top-K Sampling!"}])
    item["motivation"] = "comenting"
    result = _import(small, [item], tmp_path)
    assert "unknown motivation 'comenting'" in result.stderr and "unknown body purpose 'taging'" in result.stderr
    assert "'core' is not a class of the site" in result.stderr
    (name,) = result.stdout.split()
    text = (small / name).read_text()
    assert "tags: ['top-k sampling']" in text and "class: model" in text


def test_hypothesis_export_is_imported(small, tmp_path):
    export = {"export_date": "2026-11-30T10:00:00Z", "export_userid": "acct:reader@hypothes.is",
              "annotations": [{
                  "id": "AbCdEf123", "uri": SITE + "code/gpt-2/src/sample.py/", "user": "acct:reader@hypothes.is",
                  "user_info": {"display_name": "Ada Reader"}, "text": "The **temperature** divides here.",
                  "tags": ["temperature"],
                  "target": [{"source": SITE + "code/gpt-2/src/sample.py/", "selector": [
                      {"type": "RangeSelector", "startContainer": "/div[1]", "endContainer": "/div[1]",
                       "startOffset": 0, "endOffset": 5},
                      {"type": "TextPositionSelector", "start": 9999, "end": 10010},
                      {"type": "TextQuoteSelector", "exact": "return x / self.temperature",
                       "prefix": "def scale(x):\n                ", "suffix": "\n"}]}]}]}
    result = _import(small, export, tmp_path)
    assert result.returncode == 0, result.stderr
    (name,) = result.stdout.split()
    text = (small / name).read_text()
    assert "\nlines: 19\n" in text and "\nsymbol: sample.Sampler.step.scale\n" in text
    assert "authors: ['Ada Reader']" in text and "tags: ['temperature']" in text
    assert text.rstrip().endswith("The **temperature** divides here.")


def test_dry_run_writes_nothing(small, tmp_path):
    before = _written(small)
    result = _import(small, [_annotation("def softmax(values):", ident="urn:x:d")], tmp_path, "--dry-run")
    assert "not written: --dry-run" in result.stdout and _written(small) == before


def test_export_command_writes_the_collection(small, tmp_path):
    out = tmp_path / "out" / "annotations.jsonld"
    result = run_marginalia(small, "export", "--output", str(out), env={"SITE_URL": SITE})
    assert result.returncode == 0, result.stderr
    data = json.loads(out.read_text())
    assert data["total"] == 1 and data["first"]["items"][0]["id"] == SITE + "notes/gpt2-existing/"
    assert "created" not in data["first"]["items"][0]  # no git history in this project: no dates invented


def test_the_build_writes_the_collection(real_site):
    data = json.loads((real_site / "annotations.jsonld").read_text(encoding="utf-8"))
    assert data["type"] == "AnnotationCollection" and data["total"] == len(data["first"]["items"]) > 0
    assert data["id"].endswith("/annotations.jsonld")
