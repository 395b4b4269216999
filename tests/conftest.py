from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
sys.path.insert(0, str(Path(__file__).resolve().parent))


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


@pytest.fixture(scope="session")
def browser_site(tmp_path_factory):
    """A built site (a fixture project) with a 400-line file carrying overlapping notes."""
    from test_browser import LONG, NOTE_SPECS, _note
    from helpers import make_project, run_marginalia

    tmp = tmp_path_factory.mktemp("browser")
    notes = {f"gpt-2/{spec[0]}.md": _note(*spec) for spec in NOTE_SPECS}
    root = make_project(tmp, {"gpt-2": {"src/long.py": LONG, "src/short.py": "x = 1\n"}}, notes)
    result = run_marginalia(root, "build")
    assert result.returncode == 0, result.stderr
    return root / "site"
