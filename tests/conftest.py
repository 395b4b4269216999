from __future__ import annotations

import os
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
