"""The built site, served on 127.0.0.1, checked by LinkChecker (an independent tool)."""

from __future__ import annotations

import csv
import io
import re
import subprocess
import sys
from pathlib import Path

from browser import serve

CONFIG = """\
[checking]
threads=4
[filtering]
checkextern=0
ignore=
  ^https?://(?!127\\.0\\.0\\.1)
[AnchorCheck]
"""


def test_linkchecker_finds_no_broken_link_or_anchor_on_the_served_site(browser_site, tmp_path):
    config = tmp_path / "linkcheckerrc"
    config.write_text(CONFIG)
    with serve(browser_site) as url:
        result = subprocess.run([sys.executable, "-m", "linkcheck", "-f", str(config), "-o", "csv", "--verbose", "--no-status", url],
                                capture_output=True, text=True, timeout=1200)
    rows = list(csv.DictReader(io.StringIO("\n".join(l for l in result.stdout.splitlines() if not l.startswith("#"))),
                               delimiter=";"))
    invalid = [(r["urlname"], r["parentname"], r["result"]) for r in rows if r["valid"] != "True"]
    assert invalid == [], invalid
    # LinkChecker cannot know that #L10-L20 is resolved by the page's script; anything else
    # it warns about is a real problem (and `marginalia linkcheck` checks the ranges).
    warnings = [(r["urlname"], r["warningstring"]) for r in rows if r["warningstring"]
                and not re.search(r"#L\d+-L\d+", r["urlname"])]
    assert warnings == [], warnings
    # every page and anchor was visited (verbose output logs valid URLs too)
    checked = {r["urlname"] for r in rows}
    assert len(rows) > 100, result.stderr[-2000:]
    assert any("#note-" in u for u in checked)
