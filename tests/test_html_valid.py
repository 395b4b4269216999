"""Our pages add no HTML validator errors to Material's own.

The Nu HTML Checker (vnu, the W3C validator; from npm's vnu-jar, run with Java) reads the
real built site and the benchmark's plain Material baseline — the same pages and code
without our machinery. Material's own errors appear in both; an error that only our site
has is ours, and fails the test. Compared page by page (a page only we have is compared
with what every baseline page has: Material's chrome).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from conftest import ROOT
from helpers import skip_unless_extracted

VNU = ROOT / "tests/browser/node_modules/vnu-jar/build/dist/vnu.jar"


def validate(site: Path) -> dict[str, Counter]:
    """Error messages of every HTML page of ``site``, by page (relative path)."""
    java = shutil.which("java")
    assert java and VNU.is_file(), "the validator needs Java and vnu-jar: run `make test` (it installs both)"
    result = subprocess.run([java, "-Xss16m", "-jar", str(VNU), "--errors-only", "--format", "json",
                             "--skip-non-html", str(site)], capture_output=True, text=True, timeout=900)
    messages = json.loads(result.stderr)["messages"]
    out: dict[str, Counter] = {}
    for message in messages:
        page = message.get("url", "").split(str(site) + "/", 1)[-1]
        out.setdefault(page, Counter())[f"{message['type']}: {message.get('message', '')}"] += 1
    for page in site.rglob("*.html"):
        out.setdefault(page.relative_to(site).as_posix(), Counter())
    return out


def extra_errors(ours: dict[str, Counter], baseline: dict[str, Counter]) -> dict[str, Counter]:
    chrome = None
    for counts in baseline.values():
        chrome = counts.copy() if chrome is None else chrome & counts
    chrome = chrome or Counter()
    extra = {}
    for page, counts in ours.items():
        left = counts - baseline.get(page, chrome)
        if left:
            extra[page] = left
    return extra


def test_extra_errors_compares_page_by_page():
    baseline = {"a.html": Counter({"error: tabindex": 2}), "b.html": Counter({"error: tabindex": 2, "error: x": 1})}
    ours = {"a.html": Counter({"error: tabindex": 2, "error: stray p": 1}),
            "b.html": Counter({"error: tabindex": 2, "error: x": 1}),
            "new.html": Counter({"error: tabindex": 2, "error: x": 1})}
    assert extra_errors(ours, baseline) == {"a.html": Counter({"error: stray p": 1}), "new.html": Counter({"error: x": 1})}


@pytest.mark.network
def test_our_pages_add_no_validator_errors_to_plain_material(real_site, tmp_path):
    skip_unless_extracted(real_site.parent)  # the baseline is built from every code page
    sys.path.insert(0, str(ROOT / "scripts"))
    from bench import baseline_project

    baseline_root = baseline_project(tmp_path, source=real_site.parent)
    build = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--quiet"], cwd=baseline_root,
                           capture_output=True, text=True, env={**__import__("os").environ, "NO_MKDOCS_2_WARNING": "1"})
    assert build.returncode == 0, build.stderr[-2000:]
    extra = extra_errors(validate(real_site), validate(baseline_root / "site"))
    report = "\n".join(f"{page}: {count}× {message}" for page, counts in sorted(extra.items())
                       for message, count in counts.items())
    assert not extra, f"validator errors that plain Material does not have:\n{report}"
