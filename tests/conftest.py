from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

ROOT = Path(__file__).resolve().parent.parent
from helpers import GENERATED_DOCS  # noqa: E402
# The machine's own git configuration, read before any test isolates it: builds of the real
# project use its insteadOf mirrors when it has them (and build without them when not).
MACHINE_GIT = {"GIT_CONFIG_GLOBAL": os.environ.get("GIT_CONFIG_GLOBAL", os.path.expanduser("~/.gitconfig")),
               "GIT_CONFIG_NOSYSTEM": os.environ.get("GIT_CONFIG_NOSYSTEM", "0")}


@pytest.fixture(autouse=True)
def isolated_git(request, tmp_path_factory, monkeypatch):
    """Each test sees its own global git config: no insteadOf rules of the machine leak
    in, and a test that sets one does not leak out. Tests marked ``upstream`` keep the
    machine's configuration, since its insteadOf mirrors are how they reach GitHub."""
    monkeypatch.delenv("MARGINALIA_ALLOW_MISSING", raising=False)
    monkeypatch.delenv("MARGINALIA_CACHE", raising=False)
    if request.node.get_closest_marker("upstream"):
        yield None
        return
    home = tmp_path_factory.mktemp("gitconfig")
    config = home / "gitconfig"
    config.write_text("[user]\n\tname = Test\n\temail = test@example.org\n[protocol \"file\"]\n\tallow = always\n")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(config))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    yield config


GENERATORS = ("mkdocs", "zensical")


def built_site(root: Path, generator: str) -> Path:
    return root / ("site" if generator == "mkdocs" else "site-zensical")


@pytest.fixture(scope="session", params=GENERATORS)
def browser_site(request, tmp_path_factory):
    """A built site (a fixture project) with a 400-line file carrying overlapping notes, a file
    calling into it (cross-references), and a copy relation (its compare page), built by each
    generator in turn: every browser test runs against both builds."""
    from test_browser import CALLER, LONG, NOTE_SPECS, _note
    from helpers import make_project, run_marginalia

    from test_lineage_browser import LINEAGE_FILES, LINEAGE_NOTES

    tmp = tmp_path_factory.mktemp(f"browser-{request.param}")
    notes = {f"gpt-2/{spec[0]}.md": _note(*spec) for spec in NOTE_SPECS}
    notes.update(LINEAGE_NOTES)  # a copy relation, its record and the note on its change
    root = make_project(tmp, {"gpt-2": {"src/long.py": LONG, "src/short.py": "x = 1\n", "src/caller.py": CALLER,
                                        **LINEAGE_FILES["gpt-2"]},
                              "aidungeon": LINEAGE_FILES["aidungeon"]}, notes)
    result = run_marginalia(root, "build", "--generator", request.param)
    assert result.returncode == 0, result.stderr
    return built_site(root, request.param)


def copy_real_project(target: Path) -> Path:
    """A copy of this checkout's project (notes, pages, readings, manifest, traces) sharing its
    cache and citation environment. It is a git clone sharing this checkout's history (notes
    are dated from it), with the working tree's files copied over it (edits included)."""
    import subprocess

    target.parent.mkdir(parents=True, exist_ok=True)
    cloned = subprocess.run(["git", "clone", "--quiet", "--shared", "--no-checkout", str(ROOT), str(target)],
                            capture_output=True, text=True)
    if cloned.returncode != 0:  # not a git checkout: a plain copy, and notes without dates
        target.mkdir(parents=True, exist_ok=True)
    for name in ("mkdocs.yml", "README.md", "CONTRIBUTING.md", "sources.toml"):
        shutil.copy(ROOT / name, target / name)
    for name in ("docs", "annotations", "overrides", "traces"):
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, target / name, ignore=shutil.ignore_patterns(*GENERATED_DOCS), dirs_exist_ok=True)
    (target / "scripts").symlink_to(ROOT / "scripts")
    (ROOT / ".marginalia" / "cache").mkdir(parents=True, exist_ok=True)
    (target / ".marginalia").mkdir()
    (target / ".marginalia" / "cache").symlink_to(ROOT / ".marginalia" / "cache")
    if (ROOT / ".marginalia" / "cite-venv").is_dir():
        (target / ".marginalia" / "cite-venv").symlink_to(ROOT / ".marginalia" / "cite-venv")
    return target


@pytest.fixture(scope="session")
def real_project(tmp_path_factory):
    """A copy of the real project with its sources extracted (what this machine can reach)."""
    from helpers import run_marginalia

    root = copy_real_project(tmp_path_factory.mktemp("real") / "project")
    result = run_marginalia(root, "extract", "--allow-missing", env=MACHINE_GIT)
    assert result.returncode == 0, result.stderr[-3000:]
    return root


def _build_real(root: Path, generator: str) -> Path:
    from helpers import run_marginalia

    result = run_marginalia(root, "build", "--allow-missing", "--generator", generator, env=MACHINE_GIT)
    assert result.returncode == 0, result.stderr[-3000:]
    return built_site(root, generator)


@pytest.fixture(scope="session")
def real_site(real_project):
    """The real site built by MkDocs (strict, link-checked). Upstreams this machine cannot
    reach are left out with their 'not extracted' notices (ALLOW_MISSING)."""
    return _build_real(real_project, "mkdocs")


@pytest.fixture(scope="session")
def real_site_zensical(real_project, real_site):
    """The same project built by Zensical (after the MkDocs build: they share docs/code/)."""
    return _build_real(real_project, "zensical")


@pytest.fixture(scope="module")
def browser():
    """Debian's chromium driven by Playwright, one per test module (the browser tests share it)."""
    from playwright.sync_api import sync_playwright

    from browser import CHROMIUM, CHROMIUM_ARGS

    assert Path(CHROMIUM).exists(), "Debian's chromium is missing: run `make test`, which installs it"
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()
