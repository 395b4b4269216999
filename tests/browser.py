"""Shared set-up for the browser tests: a built site served on 127.0.0.1, and Debian's
Chromium driven by Playwright (its own browser download cannot work on these machines)."""

from __future__ import annotations

import functools
import gzip
import io
import os
import http.server
import threading
import time
from contextlib import contextmanager
from pathlib import Path

CHROMIUM = os.environ.get("MARGINALIA_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic", "--disable-dev-shm-usage"]
AXE = Path(__file__).parent / "browser" / "node_modules" / "axe-core" / "axe.min.js"


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


class _GzipHandler(_QuietHandler):
    """Compresses text as GitHub Pages does (Python's own server does not, which would make
    every page look slower than it is on the published site)."""

    COMPRESSED = {".html", ".css", ".js", ".json", ".svg", ".xml", ".txt", ".map"}

    def send_head(self):
        path = Path(self.translate_path(self.path))
        if path.is_dir():
            path = path / "index.html"
        if path.suffix in self.COMPRESSED and path.is_file() and "gzip" in self.headers.get("Accept-Encoding", ""):
            data = gzip.compress(path.read_bytes(), 6)
            self.send_response(200)
            self.send_header("Content-Type", self.guess_type(str(path)))
            self.send_header("Content-Encoding", "gzip")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            return io.BytesIO(data)
        return super().send_head()


@contextmanager
def serve(directory: Path, compress: bool = False):
    with _serve_with(functools.partial(_GzipHandler if compress else _QuietHandler, directory=str(directory))) as url:
        yield url


@contextmanager
def _serve_with(handler):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


class _TwoPartHandler(_QuietHandler):
    """Sends one page in two parts, ``pause`` seconds apart, as a slow network would: the
    browser paints the first part while it waits for the second."""

    page: str = ""
    cut: int = 0
    pause: float = 0.4

    def do_GET(self):
        if self.path.split("?")[0] != self.page:
            return super().do_GET()
        data = (Path(self.directory) / self.page.strip("/") / "index.html").read_bytes()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data[:self.cut])
        self.wfile.flush()
        time.sleep(self.pause)
        self.wfile.write(data[self.cut:])


@contextmanager
def serve_in_two_parts(directory: Path, page: str):
    """Serve ``directory``; the page at ``page`` (``/code/…/``) arrives cut where the returned
    ``cut_at(byte_offset)`` last said."""
    handler_class = type("Handler", (_TwoPartHandler,), {"page": page})
    with _serve_with(functools.partial(handler_class, directory=str(directory))) as url:
        yield url, lambda offset: setattr(handler_class, "cut", offset)


def watch_for_errors(page, *allowed: str) -> list[str]:
    """Collects, while the page lives, script errors, any request to an address that starts
    with none of ``allowed`` (the test server: the site must work offline), and requests that
    failed or were answered with an error status. A request cut short by the next navigation
    or by closing the page (``net::ERR_ABORTED``) is not an error: a CI run saw the search
    worker and favicon aborted when a test ended while they were still loading."""
    errors: list[str] = []

    def failed(request) -> None:
        if request.failure != "net::ERR_ABORTED":
            errors.append(f"request failed: {request.url} ({request.failure})")

    def requested(request) -> None:
        if not request.url.startswith((*allowed, "data:", "blob:")):
            errors.append(f"request outside the site: {request.url}")

    def answered(response) -> None:
        if response.status >= 400:
            errors.append(f"HTTP {response.status}: {response.url}")

    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("request", requested)
    page.on("requestfailed", failed)
    page.on("response", answered)
    return errors


def run_axe(page) -> list[dict]:
    """axe-core's serious and critical violations on the current page. axe is evaluated through
    the DevTools protocol: an added inline ``<script>`` would be refused by the pages'
    Content-Security-Policy (as it should be)."""
    if not page.evaluate("typeof axe !== 'undefined'"):
        page.evaluate(AXE.read_text(encoding="utf-8"))
    result = page.evaluate("""async () => {
        const r = await axe.run(document, {resultTypes: ['violations']});
        return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
            nodes: v.nodes.slice(0, 5).map(n => n.target.join(' '))}));
    }""")
    return [v for v in result if v["impact"] in ("serious", "critical")]


# Sums the layout-shift score, and keeps what moved (for the failure message).
LAYOUT_SHIFT_OBSERVER = """
window.__cls = 0;
window.__shifts = [];
new PerformanceObserver(list => {
  for (const entry of list.getEntries()) {
    if (entry.hadRecentInput) continue;
    window.__cls += entry.value;
    window.__shifts.push({at: Math.round(entry.startTime), score: entry.value, moved: (entry.sources || []).map(s => {
      const n = s.node, el = n && (n.nodeType === 1 ? n : n.parentElement);
      return {node: el ? el.tagName.toLowerCase() + (el.className ? '.' + String(el.className).split(' ').join('.') : '')
                       + (n.nodeType === 3 ? ' (text: ' + n.textContent.slice(0, 30) + ')' : '') : null,
              from: [s.previousRect.x, s.previousRect.y, s.previousRect.width, s.previousRect.height],
              to: [s.currentRect.x, s.currentRect.y, s.currentRect.width, s.currentRect.height]};
    })});
  }
}).observe({type: 'layout-shift', buffered: true});
"""
