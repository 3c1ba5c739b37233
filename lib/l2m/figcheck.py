"""Check in headless Chromium that every figure and every equation of the built book is drawn.

A page should show as many Plotly plots as it holds figures (``div.l2m-figure``, written by
:mod:`l2m.plots`), and every chapter notebook should hold at least one: a chapter with none
is how the silently dropped Plotly mime type shows up. Plotly marks a plot it has drawn with
the class ``js-plotly-plot`` and draws into ``svg.main-svg``; Chromium's ``--dump-dom`` gives
the page after its scripts ran. Pages are served from a local HTTP server, as a reader would
open them, with Chromium's network features off (this machine has no internet).

Math: myst writes ``$...$`` and ``$$...$$`` as elements of class ``math`` (``span.math``,
``div.math``) for MathJax to typeset in the browser; MathJax 3 puts an ``mjx-container`` into
each one it typeset. Every math element of a page must hold one, and none a TeX error
(``mjx-merror``). MathJax comes with the book (``sphinx-mathjax-offline``, set in _config.yml):
no page may load a script or stylesheet from another host, since readers may have no internet;
this is checked in the HTML as built and in the DOM after the page's scripts ran.

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
from urllib.parse import urljoin, urlsplit

from bs4 import BeautifulSoup

from .plots import FIGURE_CLASS

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--virtual-time-budget=15000",  # let plotly.js finish drawing before the DOM is dumped
]
_FIGURE = re.compile(rf'class="{FIGURE_CLASS}"')
_DRAWN = re.compile(r'class="[^"]*\bjs-plotly-plot\b[^"]*"[^>]*>.*?class="main-svg"', re.S)
_LOADED_LINKS = {"stylesheet", "preload", "modulepreload"}  # <link rel=...> a browser fetches on view


def math_elements(soup: BeautifulSoup) -> list:
    """The elements myst left for MathJax: ``span.math`` (inline) and ``div.math`` (display)."""
    return soup.select(".math")


def remote_resources(soup: BeautifulSoup, page_url: str) -> list[str]:
    """Scripts and stylesheets of a page that would be fetched from another host than the page's."""
    host = urlsplit(page_url).netloc
    refs = [tag["src"] for tag in soup.find_all("script", src=True)]
    refs += [tag["href"] for tag in soup.find_all("link", href=True) if _LOADED_LINKS & set(tag.get("rel") or [])]
    return [ref for ref in refs if urlsplit(urljoin(page_url, ref)).netloc != host]


def check_math(page: Path, soup: BeautifulSoup, dom: BeautifulSoup) -> list[str]:
    """Problems with the typeset math of one page, ``soup`` being its HTML as built and ``dom``
    the page after its scripts ran; prints one verdict line."""
    expected = len(math_elements(soup))
    maths = math_elements(dom)
    typeset = sum(1 for m in maths if m.find("mjx-container") is not None)
    errors = sum(1 for m in maths if m.find("mjx-merror") is not None)
    ok = typeset == expected and len(maths) == expected and errors == 0
    print(f"[math] {page}: {typeset}/{expected} typeset{f', {errors} TeX errors' if errors else ''} "
          f"{'ok' if ok else 'NOT TYPESET'}", flush=True)
    problems = []
    if typeset != expected or len(maths) != expected:
        problems.append(f"{page}: {typeset} of {expected} math elements typeset by MathJax")
    if errors:
        problems.append(f"{page}: {errors} math elements show a TeX error (mjx-merror)")
    return problems


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
    """Problems found (empty when all is well), one line per page and kind of problem.

    Every page is checked for scripts and stylesheets from another host; a page with figures or
    math is opened in Chromium, and its figures must be drawn and its math typeset.
    """
    import tempfile

    chromium = find_chromium()
    handler = functools.partial(_QuietHandler, directory=str(html_dir))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    problems = []
    try:
        with tempfile.TemporaryDirectory() as profile:
            for page in pages:
                url = f"http://127.0.0.1:{server.server_port}/{page.as_posix()}"
                html = (html_dir / page).read_text()
                soup = BeautifulSoup(html, "html.parser")
                remote = remote_resources(soup, url)
                if remote:
                    problems.append(f"{page}: loads from another host: {', '.join(remote)}")
                expected = len(_FIGURE.findall(html))
                has_math = bool(math_elements(soup))
                if expected == 0 and page in must_have_figure:
                    problems.append(f"{page}: a chapter page with no figure in its HTML")
                if expected == 0 and not has_math:
                    continue
                dom = dump_dom(url, chromium, Path(profile))
                if expected:
                    drawn = len(_DRAWN.findall(dom))
                    status = "ok" if drawn == expected else "NOT DRAWN"
                    print(f"[figures] {page}: {drawn}/{expected} drawn {status}", flush=True)
                    if drawn != expected:
                        problems.append(f"{page}: {drawn} of {expected} figures drawn")
                rendered = BeautifulSoup(dom, "html.parser")
                if has_math:
                    problems += check_math(page, soup, rendered)
                added = sorted(set(remote_resources(rendered, url)) - set(remote))
                if added:
                    problems.append(f"{page}: its scripts load from another host: {', '.join(added)}")
    finally:
        server.shutdown()
    return problems


def check_book(html_dir: Path, stage: Path) -> None:
    """Check every page built from a notebook or Markdown file in ``stage``; raise listing the
    pages that fail. Every notebook page must hold a figure."""
    from .build import BuildError

    notebooks = sorted(p.relative_to(stage) for p in stage.rglob("*.ipynb"))
    markdown = sorted(p.relative_to(stage) for p in stage.rglob("*.md"))  # the pages with no code (intro)
    pages = [src.with_suffix(".html") for src in notebooks + markdown if (html_dir / src.with_suffix(".html")).exists()]
    missing = [nb for nb in notebooks if not (html_dir / nb.with_suffix(".html")).exists()]
    problems = [f"{nb}: no HTML page was built" for nb in missing]
    problems += check_pages(html_dir, pages, {nb.with_suffix(".html") for nb in notebooks})
    if problems:
        raise BuildError("figure and math check failed:\n  " + "\n  ".join(problems))
    print(f"[figures] all figures drawn and all math typeset on {len(pages)} pages, nothing loaded from another host",
          flush=True)


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
