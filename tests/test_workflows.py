"""The GitHub workflows are as strictly pinned as the project: zizmor (a GitHub Actions
security linter, pinned in requirements/test.txt) finds nothing of medium severity or above."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def zizmor(path: Path) -> subprocess.CompletedProcess:
    exe = shutil.which("zizmor", path=str(Path(sys.executable).parent)) or shutil.which("zizmor")
    assert exe, "zizmor is not installed: run `make test` (it installs requirements/test.txt)"
    return subprocess.run([exe, "--offline", "--no-progress", "--min-severity", "medium", str(path)],
                          capture_output=True, text=True, timeout=300)


def test_the_workflows_have_no_finding_of_medium_severity_or_above():
    result = zizmor(ROOT / ".github" / "workflows")
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_audit_finds_an_unpinned_action_and_persisted_credentials(tmp_path):
    # the check above is only worth something if zizmor reports what it is there to catch
    workflow = tmp_path / ".github" / "workflows" / "loose.yml"
    workflow.parent.mkdir(parents=True)
    workflow.write_text("on: pull_request\npermissions: {}\njobs:\n  test:\n    runs-on: ubuntu-24.04\n"
                        "    permissions:\n      contents: read\n    steps:\n      - uses: actions/checkout@v4\n")
    result = zizmor(tmp_path / ".github" / "workflows")
    assert result.returncode != 0
    assert "unpinned-uses" in result.stdout and "artipacked" in result.stdout
