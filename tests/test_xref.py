"""Cross-references: names resolved to their definitions, precisely or not at all."""

from __future__ import annotations

import io
import re
import textwrap
import tokenize
from pathlib import Path

import parso
import pytest
from parso.python.tree import PythonMixin

from helpers import sha256
from marginalia.libdocs import load_library_docs
from marginalia.manifest import parse_manifest
from marginalia.sources import SourceText
from marginalia.xref import _index_positions, build_index
from marginalia.xref_pages import link_line

ROOT = Path(__file__).resolve().parent.parent

MODEL = textwrap.dedent('''\
    import numpy as np
    import tensorflow as tf
    from tensorflow.contrib.training import HParams

    def default_hparams():
        return HParams(
            n_vocab=0,
            n_embd=768,
        )

    def model(hparams, X):
        h = tf.matmul(X, X) * np.sqrt(hparams.n_embd)
        return h
    ''')
ENCODER = textwrap.dedent('''\
    """Byte pairs: ¡ ¬ ® ÿ."""

    class Encoder:
        def __init__(self, table):
            self.table = table

        def encode(self, text):
            return [self.table[c] for c in text]

    def get_encoder():
        return Encoder({})
    ''')
SCRIPT = textwrap.dedent('''\
    import re
    import model, encoder

    def run(flag):
        enc = encoder.get_encoder()
        s = "¡¬"; t = enc.encode(s)
        if flag:
            k = 1
        else:
            k = 2
        h = model.model(model.default_hparams(), k)
        return re.compile(s), h, t
    ''')
DUNGEON = textwrap.dedent('''\
    from generator.gpt2.src import model

    h = model.model(None, 1)
    ''')


def _index(tmp_path: Path, files: dict[str, dict[str, str]]):
    manifest_lines = ["schema = 1"]
    for codebase, content in files.items():
        manifest_lines += [f"[codebases.{codebase}]", 'title = "T"', 'authors = "A"', 'summary = "S"',
                           'upstream = "https://example.org/x"', 'licence = "MIT"', f"[codebases.{codebase}.pins.main]",
                           'git = "https://example.org/x.git"', f'commit = "{"a" * 40}"', 'label = "a"',
                           'browse = "https://example.org/{member}"']
        for path, text in content.items():
            manifest_lines += [f"[[codebases.{codebase}.files]]", f'path = "{path}"', f'sha256 = "{sha256(text)}"',
                               'class = "model"']
    manifest = parse_manifest("\n".join(manifest_lines) + "\n")
    sources = {(cb, f.path): SourceText(cb, f, files[cb][f.path]) for cb, f in manifest.files()}
    return build_index(manifest, sources, tmp_path / "xref-cache", workers=1)


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    return _index(tmp_path_factory.mktemp("xref"), {
        "gpt-2": {"src/model.py": MODEL, "src/encoder.py": ENCODER, "src/script.py": SCRIPT},
        "aidungeon": {"generator/gpt2/src/model.py": MODEL, "play.py": DUNGEON},
    })


def _uses(index, codebase, path, name):
    return [u for u in index.files[(codebase, path)].uses if u.name == name]


def test_cross_file_calls_resolve_to_their_definitions(index):
    [call] = [u for u in _uses(index, "gpt-2", "src/script.py", "model") if u.call]
    assert call.targets == ("gpt-2/src/model.py:11:4",)
    [getter] = _uses(index, "gpt-2", "src/script.py", "get_encoder")
    assert getter.targets == ("gpt-2/src/encoder.py:10:4",) and getter.call


def test_return_values_are_inferred_and_columns_count_characters(index):
    # `enc = encoder.get_encoder()` makes `enc.encode` a use of Encoder.encode; the line holds
    # two non-ASCII characters before it, which ast would count as four bytes
    [encode] = _uses(index, "gpt-2", "src/script.py", "encode")
    assert encode.targets == ("gpt-2/src/encoder.py:7:8",)
    assert SCRIPT.split("\n")[encode.line - 1][encode.column:encode.column + 6] == "encode"


def test_a_use_with_several_reaching_definitions_lists_them_all(index):
    [k] = [u for u in _uses(index, "gpt-2", "src/script.py", "k") if u.line == 11]
    assert k.targets == ("gpt-2/src/script.py:8:8", "gpt-2/src/script.py:10:8")


def test_codebases_never_resolve_into_each_other(index):
    # the same module name `model` exists in both codebases
    [call] = [u for u in _uses(index, "aidungeon", "play.py", "model") if u.call]
    assert call.targets == ("aidungeon/generator/gpt2/src/model.py:11:4",)
    for (codebase, _), refs in index.files.items():
        for use in refs.uses:
            assert all(t.startswith(codebase + "/") for t in use.targets), use


def test_hyperparameters_link_to_their_keyword_arguments(index):
    [n_embd] = _uses(index, "gpt-2", "src/model.py", "n_embd")
    assert n_embd.targets == ("gpt-2/src/model.py:8:8",)
    definition = index.definitions[n_embd.targets[0]]
    assert definition.kind == "keyword argument" and definition.name == "n_embd"


def test_library_names_are_qualified_from_the_imports(index):
    names = {(u.name, u.qualname, u.library, u.call) for u in index.files[("gpt-2", "src/model.py")].library}
    assert ("matmul", "tensorflow.matmul", "tensorflow", True) in names
    assert ("sqrt", "numpy.sqrt", "numpy", True) in names
    assert ("HParams", "tensorflow.contrib.training.HParams", "tensorflow", True) in names
    script = {(u.qualname, u.library) for u in index.files[("gpt-2", "src/script.py")].library}
    assert ("re.compile", "stdlib") in script
    # presented modules are not libraries
    assert not any(u.qualname.startswith(("model.", "encoder.")) for u in index.files[("gpt-2", "src/script.py")].library)


def test_uses_are_indexed_backwards_from_the_look_ups(index):
    uses = index.uses_of("gpt-2/src/model.py:11:4")
    assert ("gpt-2", "src/script.py", 11) in uses


def test_a_file_that_does_not_parse_loses_its_links_not_the_build(tmp_path):
    broken = _index(tmp_path, {"gpt-2": {"src/model.py": MODEL, "src/broken.py": "def f(:\n    return model.model\n"}})
    assert broken.files[("gpt-2", "src/broken.py")].error
    assert broken.files[("gpt-2", "src/model.py")].error is None
    assert broken.files[("gpt-2", "src/model.py")].uses


def test_the_second_build_reads_the_cache(tmp_path):
    files = {"gpt-2": {"src/model.py": MODEL, "src/encoder.py": ENCODER, "src/script.py": SCRIPT}}
    first = _index(tmp_path, files)
    second = _index(tmp_path, files)
    assert first.seconds > 0 and second.seconds == 0
    assert first.files == second.files and first.definitions == second.definitions


def test_a_resolver_crash_is_reported_and_not_kept_in_the_cache(tmp_path, monkeypatch):
    # what a fresh CI machine saw: jedi raised EOFError on one file (a half-written parser cache)
    from marginalia import xref

    files = {"gpt-2": {"src/model.py": MODEL, "src/script.py": SCRIPT}}
    real = xref._Resolver.resolve_file

    def crash_on_script(self, member):
        if member.path == "src/script.py":
            raise EOFError("Ran out of input")
        return real(self, member)

    monkeypatch.setattr(xref._Resolver, "resolve_file", crash_on_script)
    crashed = _index(tmp_path, files)
    assert crashed.errors() == ["gpt-2/src/script.py: no cross-references (EOFError: Ran out of input)"]
    assert crashed.files[("gpt-2", "src/model.py")].uses  # the other file keeps its links
    monkeypatch.setattr(xref._Resolver, "resolve_file", real)
    again = _index(tmp_path, files)
    assert again.seconds > 0 and again.errors() == []  # resolved anew, not read from the cache
    assert again.files[("gpt-2", "src/script.py")].uses


def test_resolving_leaves_the_shared_parser_cache_alone(tmp_path, monkeypatch):
    # concurrent resolver processes must not share parso's cache (it is written in place)
    import jedi

    shared = tmp_path / "shared-jedi-cache"
    monkeypatch.setattr(jedi.settings, "cache_directory", str(shared))
    index = _index(tmp_path, {"gpt-2": {"src/model.py": MODEL, "src/encoder.py": ENCODER, "src/script.py": SCRIPT}})
    assert index.files[("gpt-2", "src/script.py")].uses
    assert not shared.exists()
    assert jedi.settings.cache_directory == str(shared)  # and the setting is given back


def test_the_fast_position_lookup_agrees_with_parso():
    text = SCRIPT + ENCODER + "x = f(a)(b)[c].d\nprint(  y  ,z)\n"
    plain, indexed = parso.parse(text), parso.parse(text)
    _index_positions(indexed)
    checked = 0
    for token in tokenize.generate_tokens(io.StringIO(text).readline):
        for position in (token.start, token.end):
            expected = PythonMixin.get_name_of_position(plain, position)
            found = indexed.get_name_of_position(position)
            assert (expected and (expected.start_pos, expected.value)) == (found and (found.start_pos, found.value))
            checked += 1
    assert checked > 100


def test_links_replace_the_name_spans_and_add_no_elements():
    line = ('<span class="n">enc</span><span class="o">.</span><span class="n">encode</span>'
            '<span class="p">(</span><span class="s2">&quot;&lt;¡&gt;&quot;</span> <span class="n">s</span>')
    linked, made = link_line(line, {4: ("encode", 'href="../e.py/#L7"'), 17: ("s", 'href="#L3"'), 0: ("other", "x")})
    assert made == 2
    assert '<a class="n" href="../e.py/#L7">encode</a>' in linked and '<a class="n" href="#L3">s</a>' in linked
    assert '<span class="n">enc</span>' in linked  # the expected name differs: no link
    assert len(re.findall(r"<[a-z]", linked)) == len(re.findall(r"<[a-z]", line))


LIBRARY_DOCS = load_library_docs(ROOT / "annotations" / "library-docs.toml")


@pytest.mark.parametrize("rule", [r for r in LIBRARY_DOCS.rules if r.examples], ids=lambda r: r.label)
def test_each_documentation_rule_gives_its_examples(rule):
    for qualname, url in rule.examples:
        assert rule.url_for(qualname) == url


def test_documentation_rules_follow_the_version_of_each_codebase():
    from marginalia.xref import LibraryUse, XrefIndex

    empty = XrefIndex()

    def target(codebase, pin, qualname, library):
        return LIBRARY_DOCS.target(codebase, pin, LibraryUse(1, 0, qualname.rsplit(".", 1)[-1], qualname, library), empty)

    assert target("gpt-2", "master", "tensorflow.matmul", "tensorflow")[0].endswith("/r1.15/api_docs/python/tf/matmul")
    assert "/1.18/" in target("twdne", "master", "numpy.exp", "numpy")[0]
    assert "/2.3/" in target("transformers", "v5.24.0", "numpy.exp", "numpy")[0]
    assert target("transformers", "v2.8.0", "torch.matmul", "torch")[0] == "https://pytorch.org/docs/1.5.0/torch.html#torch.matmul"
    assert target("gpt-2", "master", "fire.Fire", "fire") is None  # no rule: no link
    # TWDNE's transformers names fall back to the documentation when no presented code defines them
    assert "search.html?q=AutoTokenizer" in target("twdne", "master", "transformers.AutoTokenizer", "transformers")[0]


# ------------------------------------------------------------------ the real site --

def _links(page: Path) -> list[tuple[str, str, str]]:
    """(line id, name, href) of every cross-reference link on a built code page."""
    text = page.read_text(encoding="utf-8")
    out = []
    for line_id, body in re.findall(r'<span class="l[^"]*" id="(L\d+)">(.*?)</span>(?=<span class="l|</pre>|</code>)', text, re.S):
        for attrs, name in re.findall(r'<a class="[^"]+" ([^>]*data-x="[^"]*"[^>]*)>([^<]*)</a>', body):
            href = re.search(r'href="([^"]*)"', attrs)[1]
            out.append((line_id, name, href, "data-lib" in attrs))
    return out


def _needs(site: Path, *pages: str) -> None:
    missing = [p for p in pages if "mg-missing" in (site / p / "index.html").read_text(encoding="utf-8")]
    if missing:
        pytest.skip(f"upstream not reachable here, so not extracted: {', '.join(missing)}")


@pytest.mark.network
@pytest.mark.upstream
def test_openai_scripts_link_into_the_sampler_model_and_tokenizer(real_site):
    _needs(real_site, "code/gpt-2/src/interactive_conditional_samples.py", "code/gpt-2/src/sample.py")
    links = _links(real_site / "code/gpt-2/src/interactive_conditional_samples.py/index.html")
    assert ("L61", "sample_sequence", "../sample.py/#L43", False) in links
    assert ("L47", "get_encoder", "../encoder.py/#L108", False) in links
    assert ("L77", "encode", "../encoder.py/#L96", False) in links
    sample = _links(real_site / "code/gpt-2/src/sample.py/index.html")
    assert ("L51", "model", "../model.py/#L147", False) in sample
    # the definition lists its uses in both scripts
    page = (real_site / "code/gpt-2/src/sample.py/index.html").read_text(encoding="utf-8")
    uses = re.search(r'<div class="mg-uses__item" id="uses-L43-4">(.*?)</div>', page, re.S)[1]
    assert "generate_unconditional_samples.py/#L58" in uses and "interactive_conditional_samples.py/#L61" in uses
    resolved = sum(len(_links(real_site / f"code/gpt-2/src/{name}/index.html")) for name in
                   ("model.py", "sample.py", "encoder.py", "generate_unconditional_samples.py",
                    "interactive_conditional_samples.py"))
    assert resolved > 600


@pytest.mark.network
def test_no_cross_reference_leads_into_another_codebase(real_site):
    checked = 0
    for page in (real_site / "code").rglob("index.html"):
        relative = page.relative_to(real_site).parent.as_posix()  # code/<codebase>/<path...>
        if relative.count("/") < 2:
            continue  # the codebase indexes
        codebase = relative.split("/")[1]
        for line_id, name, href, library in _links(page):
            if library or href.startswith("http"):
                continue
            target = (Path("/") / relative / href.split("#")[0]).resolve().as_posix()
            assert target.startswith(f"/code/{codebase}/"), (relative, line_id, name, href)
            if codebase == "transformers":  # two pinned versions: never one into the other
                assert target.split("/")[3] == relative.split("/")[2], (relative, line_id, name, href)
            checked += 1
    assert checked > 1000


@pytest.mark.network
@pytest.mark.upstream
def test_ai_dungeon_and_twdne_resolve_their_package_imports(real_site):
    _needs(real_site, "code/aidungeon/generator/gpt2/gpt2_generator.py", "code/twdne/title_maker_pro/word_generator.py")
    generator = _links(real_site / "code/aidungeon/generator/gpt2/gpt2_generator.py/index.html")
    assert any(name == "sample_sequence" and href == "../src/sample.py/#L56" for _, name, href, _ in generator)
    words = _links(real_site / "code/twdne/title_maker_pro/word_generator.py/index.html")
    assert any(href.startswith("../datasets.py/#L") for _, _, href, _ in words)
    # TWDNE's calls into the transformers 2.8.0 it pinned lead to that presented code
    fork = _links(real_site / "code/twdne/title_maker_pro/custom_modeling_utils.py/index.html")
    assert any(name == "top_k_top_p_filtering" and "transformers/v2.8.0/modeling_utils.py/#L" in href and library
               for _, name, href, library in fork)
