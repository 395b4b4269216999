"""The source manifest: the real one loads; bad ones give clear, located errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from marginalia.manifest import browse_url, load_manifest, parse_manifest
from marginalia.problems import InputError

ROOT = Path(__file__).parent.parent

GOOD = '''schema = 1
[artifacts.pkg]
url = "https://files.example.org/pkg-1.0-py3-none-any.whl"
sha256 = "%s"
[codebases.demo]
title = "Demo"
authors = "T"
summary = "S"
upstream = "https://example.org/demo"
licence = "MIT"
[codebases.demo.pins.main]
git = "https://example.org/demo.git"
commit = "%s"
label = "x"
browse = "https://example.org/blob/{commit}/{member}"
[[codebases.demo.files]]
path = "src/model.py"
sha256 = "%s"
class = "model"
''' % ("a" * 64, "b" * 40, "c" * 64)


def errors(text: str) -> list[str]:
    with pytest.raises(InputError) as caught:
        parse_manifest(text)
    return [str(p) for p in caught.value.problems]


def test_the_project_manifest_lists_every_presented_file():
    manifest = load_manifest(ROOT / "sources.toml")
    paths = {(cb, f.path) for cb, f in manifest.files()}
    assert ("gpt-2", "src/model.py") in paths and ("aidungeon", "play.py") in paths
    assert ("twdne", "title_maker_pro/datasets.py") in paths
    assert ("transformers", "v2.8.0/modeling_utils.py") in paths
    assert len(paths) == 29
    for codebase, file in manifest.files():
        pin = manifest.pin_of(codebase, file)
        assert browse_url(pin, file).startswith("https://github.com/")
        if pin.is_git:
            assert pin.commit in browse_url(pin, file)


def test_a_good_manifest_parses():
    manifest = parse_manifest(GOOD)
    (file,) = manifest.codebases["demo"].files
    assert file.code_class.value == "model"
    assert browse_url(manifest.pin_of("demo", file), file) == f"https://example.org/blob/{'b' * 40}/src/model.py"


@pytest.mark.parametrize("change, message", [
    (('sha256 = "' + "c" * 64, 'sha256 = "C0FFEE'), "codebases.demo.files[0].sha256: String should match pattern"),
    (('class = "model"', 'class = "core"'), "codebases.demo.files[0].class: Input should be 'model', 'application' or 'boundary'"),
    (('commit = "' + "b" * 40, 'commit = "main'), "codebases.demo.pins.main.commit: String should match pattern"),
    (('path = "src/model.py"', 'path = "../outside.py"'), "codebases.demo.files[0].path: '../outside.py' is not a safe relative path"),
    (('title = "Demo"\n', ''), "codebases.demo.title: Field required"),
    (('licence = "MIT"', 'licence = "MIT"\ncolour = "red"'), "codebases.demo.colour: Extra inputs are not permitted"),
    (('git = "https://example.org/demo.git"\ncommit = "' + "b" * 40 + '"', 'artifact = "nope"'),
     "unknown artifact 'nope'"),
    (("schema = 1", "schema = 2"), "schema: Input should be 1"),
    (('url = "https://', 'url = "http://'), "artifacts.pkg.url: String should match pattern"),
])
def test_bad_manifest_gives_a_clear_located_error(change, message):
    old, new = change
    assert old in GOOD
    found = errors(GOOD.replace(old, new, 1))
    assert any(message in line for line in found), found
    assert all(line.startswith("sources.toml: ") for line in found)


def test_toml_syntax_error_names_the_line():
    found = errors(GOOD.replace('title = "Demo"', 'title = "Demo'))
    assert found[0].startswith("sources.toml:6: not valid TOML")


def test_duplicate_paths_and_unknown_pins_are_refused():
    twice = GOOD + '[[codebases.demo.files]]\npath = "src/model.py"\nsha256 = "%s"\nclass = "model"\n' % ("d" * 64)
    assert any("listed twice" in e for e in errors(twice))
    wrong_pin = GOOD.replace('class = "model"', 'class = "model"\npin = "other"')
    assert any("unknown pin 'other'" in e for e in errors(wrong_pin))
