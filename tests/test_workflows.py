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


def _triggers(workflow: dict) -> dict:
    on = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` key as true
    return {on: None} if isinstance(on, str) else dict.fromkeys(on) if isinstance(on, list) else on


def test_pull_requests_run_untrusted_code_with_a_read_only_token_and_never_pull_request_target():
    # pull_request_target runs with the base repository's secrets and a write token; a pull
    # request's own code (its notes, its scripts) must never run there.
    import yaml

    workflows = sorted((ROOT / ".github").rglob("*.y*ml"))
    assert workflows
    for path in workflows:
        text = path.read_text(encoding="utf-8")
        code = "\n".join(line.split(" #")[0] for line in text.splitlines() if not line.lstrip().startswith("#"))
        assert "pull_request_target" not in code, f"{path}: pull_request_target"
        assert "pull_request_target" not in _triggers(yaml.safe_load(text)), path
    workflow = yaml.safe_load((ROOT / ".github/workflows/pull-request.yml").read_text(encoding="utf-8"))
    assert "pull_request" in _triggers(workflow)
    assert workflow["permissions"] == {}  # nothing at the top, and each job asks for reading only
    for name, job in workflow["jobs"].items():
        assert set(job.get("permissions", {}).values()) <= {"read", "none"}, name
        for step in job["steps"]:
            if step.get("uses", "").startswith("actions/checkout@"):
                assert step["with"]["persist-credentials"] is False, name
