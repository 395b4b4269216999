"""Take the README's screenshots of a code page from the built site (`make screenshots`).

Usage: python scripts/screenshots.py [site-dir]   (default: site/, built by `make site`)
Writes docs/assets/screenshots/code-page-1440.png and code-page-390.png.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from browser import CHROMIUM, CHROMIUM_ARGS, serve  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402

PAGE = "code/gpt-2/src/generate_unconditional_samples.py/"
SHOTS = [
    ("code-page-1440.png", {"width": 1440, "height": 1000}, "#L60-L70"),
    ("code-page-390.png", {"width": 390, "height": 844}, "#note-gpt2-nsamples-zero"),
]


def main() -> int:
    site = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "site"
    out = ROOT / "docs" / "assets" / "screenshots"
    out.mkdir(parents=True, exist_ok=True)
    with serve(site) as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for name, viewport, fragment in SHOTS:
            context = browser.new_context(viewport=viewport, device_scale_factor=1,
                                          is_mobile=viewport["width"] < 500)
            page = context.new_page()
            page.goto(url + PAGE + fragment)
            page.wait_for_timeout(400)
            page.screenshot(path=str(out / name))
            context.close()
            print(f"wrote {out / name}", file=sys.stderr)
        browser.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
