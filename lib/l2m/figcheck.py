"""Check in headless Chromium that every figure of the built book is drawn.

A page should show as many Plotly plots as it holds figures (``div.l2m-figure``, written by
:mod:`l2m.plots`), and every chapter notebook should hold at least one: a chapter with none
is how the silently dropped Plotly mime type shows up. Plotly marks a plot it has drawn with
the class ``js-plotly-plot`` and draws into ``svg.main-svg``; Chromium's ``--dump-dom`` gives
the page after its scripts ran. Pages are served from a local HTTP server, as a reader would
open them, with Chromium's network features off (this machine has no internet).

    python -m l2m.figcheck [_build/html]
"""
from __future__ import annotations

import functools
import http.server
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

from .plots import FIGURE_CLASS

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--virtual-time-budget=15000",  # let plotly.js finish drawing before the DOM is dumped
]
_FIGURE = re.compile(rf'class="{FIGURE_CLASS}"')
_DRAWN = re.compile(r'class="[^"]*\bjs-plotly-plot\b[^"]*"[^>]*>.*?class="main-svg"', re.S)


def find_chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    raise RuntimeError("no Chromium found: install Debian's `chromium` (apt-get install chromium)")


def dump_dom(url: str, chromium: str, profile: Path) -> str:
    command = [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--dump-dom", url]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        raise RuntimeError(f"chromium failed on {url}: {result.stderr.strip()[-500:]}")
    return result.stdout


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:  # keep the check's output to its verdicts
        pass


def check_pages(html_dir: Path, pages: list[Path], must_have_figure: set[Path]) -> list[str]:
    """Problems found (empty when all is well), one line per page."""
    import tempfile

    chromium = find_chromium()
    handler = functools.partial(_QuietHandler, directory=str(html_dir))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    problems = []
    try:
        with tempfile.TemporaryDirectory() as profile:
            for page in pages:
                expected = len(_FIGURE.findall((html_dir / page).read_text()))
                if expected == 0:
                    if page in must_have_figure:
                        problems.append(f"{page}: a chapter page with no figure in its HTML")
                    continue
                dom = dump_dom(f"http://127.0.0.1:{server.server_port}/{page.as_posix()}", chromium, Path(profile))
                drawn = len(_DRAWN.findall(dom))
                status = "ok" if drawn == expected else "NOT DRAWN"
                print(f"[figures] {page}: {drawn}/{expected} drawn {status}", flush=True)
                if drawn != expected:
                    problems.append(f"{page}: {drawn} of {expected} figures drawn")
    finally:
        server.shutdown()
    return problems


def check_book(html_dir: Path, stage: Path) -> None:
    """Check every page built from a notebook in ``stage``; raise listing the pages that fail."""
    from .build import BuildError

    notebooks = sorted(p.relative_to(stage) for p in stage.rglob("*.ipynb"))
    pages = [nb.with_suffix(".html") for nb in notebooks if (html_dir / nb.with_suffix(".html")).exists()]
    missing = [nb for nb in notebooks if not (html_dir / nb.with_suffix(".html")).exists()]
    problems = [f"{nb}: no HTML page was built" for nb in missing]
    problems += check_pages(html_dir, pages, set(pages))
    if problems:
        raise BuildError("figure check failed:\n  " + "\n  ".join(problems))
    print(f"[figures] all figures drawn on {len(pages)} pages", flush=True)


def main(argv: list[str] | None = None) -> int:
    from .build import STAGE, BuildError

    html_dir = Path((argv or sys.argv[1:] or ["_build/html"])[0])
    try:
        check_book(html_dir, STAGE)
    except BuildError as error:
        print(f"[figures] FAILED: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
