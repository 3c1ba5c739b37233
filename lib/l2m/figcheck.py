"""Check in headless Chromium that every figure of the built book draws and reacts, and every equation is typeset.

A page should show as many Plotly plots as it holds figures (``div.l2m-figure``, written by
:mod:`l2m.plots`), and every chapter notebook should hold at least one: a chapter with none
is how the silently dropped Plotly mime type shows up. Plotly marks a plot it has drawn with
the class ``js-plotly-plot`` and draws into ``svg.main-svg``. Pages are served from a local
HTTP server, as a reader would open them, and driven with ``playwright`` through Debian's
Chromium (``/usr/bin/chromium``; playwright's own browser download is not needed). A page whose scripts raise
fails.

Explorer figures (:func:`l2m.plots.explorer_figure`): every dropdown gets one other entry picked
and every slider is moved, with the mouse as a reader would, and the figure's visible traces
(``gd.data``) must change each time. Before that, the controls' and title's boxes are measured: none may overlap
another or reach outside the figure (:func:`layout_problems`).

Math: myst writes ``$...$`` and ``$$...$$`` as elements of class ``math`` (``span.math``,
``div.math``) for MathJax to typeset in the browser; MathJax 3 puts an ``mjx-container`` into
each one it typeset. Every math element of a page must hold one, and none a TeX error
(``mjx-merror``). MathJax comes with the book (``sphinx-mathjax-offline``, set in _config.yml).

Nothing may come from another host, since readers may have no internet: the scripts and
stylesheets of the HTML as built are checked, and in the browser every request to a host other
than the local server is counted and blocked (it must be 0). A page's HTML must stay under
``PAGE_LIMIT_MB``. One figure per chapter is saved as a PNG (``_build/screenshots/``).

    python -m l2m.figcheck [_build/html] [--screenshots DIR]
"""
from __future__ import annotations

import functools
import http.server
import re
import shutil
import sys
import threading
from pathlib import Path
from urllib.parse import urljoin, urlsplit

from bs4 import BeautifulSoup

from .paths import BUILD, STAGE
from .plots import FIGURE_CLASS

CHROMIUM = "/usr/bin/chromium"  # Debian's chromium; find_chromium() falls back to the PATH
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--disable-quic"]
PAGE_LIMIT_MB = 5.0  # the HTML of one page (its figures' data included); plotly.js and MathJax are shared files
WAIT_MS = 20_000  # for plotly.js to draw every figure and MathJax to typeset a page
_FIGURE = re.compile(rf'class="{FIGURE_CLASS}"')
_LOADED_LINKS = {"stylesheet", "preload", "modulepreload"}  # <link rel=...> a browser fetches on view
_SELECT = f"div.{FIGURE_CLASS}"
# The state of every figure of a page: drawn or not, its controls, and the traces it shows.
_FIGURES_JS = """sel => Array.from(document.querySelectorAll(sel)).map(div => {
  const gd = div.querySelector('.js-plotly-plot');
  if (!gd || !gd.data) return {drawn: false, menus: 0, sliders: 0, shown: ''};
  const shown = gd.data.map((t, i) => [t, i]).filter(([t]) => t.visible !== false && t.visible !== 'legendonly')
    .map(([t, i]) => [i, t.name || '', Array.from(t.y || t.z || []).slice(0, 8)]);
  return {drawn: !!div.querySelector('.js-plotly-plot .main-svg'), menus: (gd.layout.updatemenus || []).length,
          sliders: (gd.layout.sliders || []).length, shown: JSON.stringify([shown, gd.layout.title && gd.layout.title.text])};
})"""
# Where each explorer's controls and title are drawn (closed dropdown headers, sliders with their labels), in
# page coordinates, beside the figure's own frame.
_LAYOUT_JS = """sel => Array.from(document.querySelectorAll(sel)).map(div => {
  const box = el => { const r = el.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; };
  const svg = div.querySelector('.js-plotly-plot .main-svg');
  if (!svg) return null;
  const items = [];
  div.querySelectorAll('g.updatemenu-header-group').forEach((g, k) => items.push([`dropdown ${k + 1}`, box(g)]));
  div.querySelectorAll('g.slider-group').forEach((g, k) => items.push([`slider ${k + 1}`, box(g)]));
  const title = div.querySelector('g.g-gtitle text.gtitle');
  if (title && items.length) items.push(['title', box(title)]);
  return {frame: box(svg), items: items};
})"""
_MATHJAX_JS = """async () => { if (window.MathJax && MathJax.startup && MathJax.startup.promise) await MathJax.startup.promise; }"""


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
    if Path(CHROMIUM).exists():
        return CHROMIUM
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    raise RuntimeError("no Chromium found: install Debian's `chromium` (apt-get install chromium)")


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:  # keep the check's output to its verdicts
        pass


def layout_problems(frame: list[float], items: list[tuple[str, list[float]]], slack: float = 1.0) -> list[str]:
    """Controls and title that overlap one another or reach outside the figure: boxes are [left, top, right,
    bottom] in pixels; ``slack`` pixels of contact are allowed (anti-aliased edges)."""
    problems = []
    for name, (left, top, right, bottom) in items:
        if left < frame[0] - slack or top < frame[1] - slack or right > frame[2] + slack or bottom > frame[3] + slack:
            problems.append(f"{name} reaches outside the figure")
    for i, (a, box_a) in enumerate(items):
        for b, box_b in items[i + 1:]:
            width = min(box_a[2], box_b[2]) - max(box_a[0], box_b[0])
            height = min(box_a[3], box_b[3]) - max(box_a[1], box_b[1])
            if width > slack and height > slack:
                problems.append(f"{a} overlaps {b} ({width:.0f} × {height:.0f} px)")
    return problems


def _figures(page) -> list[dict]:
    return page.evaluate(_FIGURES_JS, _SELECT)


def _exercise(page, index: int, kind: str, which: int) -> bool:
    """Pick another entry of dropdown ``which`` or move slider ``which`` of figure ``index`` with the mouse;
    True if the figure then shows other traces (or other data)."""
    figure = page.locator(_SELECT).nth(index)
    before = _figures(page)[index]["shown"]
    figure.scroll_into_view_if_needed()
    if kind == "menu":
        n, active = page.evaluate("""([sel, i, k]) => { const gd = document.querySelectorAll(sel)[i].querySelector('.js-plotly-plot');
            const m = gd.layout.updatemenus[k]; return [m.buttons.length, m.active || 0]; }""", [_SELECT, index, which])
        if n < 2:
            return False
        figure.locator("g.updatemenu-header-group").nth(which).click(timeout=5_000)
        target = n - 1 if active != n - 1 else 0
        figure.locator("g.updatemenu-dropdown-button-group g.updatemenu-dropdown-button").nth(target).click(timeout=5_000)
    else:
        rail = figure.locator("g.slider-group rect.slider-rail-touch-rect").nth(which)
        box = rail.bounding_box()
        n, active = page.evaluate("""([sel, i, k]) => { const gd = document.querySelectorAll(sel)[i].querySelector('.js-plotly-plot');
            const s = gd.layout.sliders[k]; return [s.steps.length, s.active || 0]; }""", [_SELECT, index, which])
        if n < 2 or box is None:
            return False
        fraction = 0.98 if active != n - 1 else 0.02  # the last step, or the first when the last is shown
        page.mouse.click(box["x"] + fraction * box["width"], box["y"] + box["height"] / 2)
    try:
        page.wait_for_function(f"""([sel, i, before]) => ({_FIGURES_JS})(sel)[i].shown !== before""",
                               arg=[_SELECT, index, before], timeout=5_000)
    except Exception:  # playwright's TimeoutError: the data did not change
        return False
    return True


def check_pages(html_dir: Path, pages: list[Path], must_have_figure: set[Path],
                screenshots: Path | None = None) -> list[str]:
    """Problems found (empty when all is well), one line per page and kind of problem.

    Every page is checked for scripts and stylesheets from another host and opened in Chromium:
    its figures must be drawn, every control of an explorer figure must change what it shows, its
    math must be typeset, and no request may go to another host. Prints one report line per page;
    saves one figure per page with figures into ``screenshots`` when given.
    """
    from playwright.sync_api import sync_playwright

    handler = functools.partial(_QuietHandler, directory=str(html_dir))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    local = f"127.0.0.1:{server.server_port}"
    remote_requests: list[str] = []

    def route(request_route) -> None:  # count and block every request to another host
        url = request_route.request.url
        if urlsplit(url).scheme in ("http", "https", "ws", "wss") and urlsplit(url).netloc != local:
            remote_requests.append(url)
            request_route.abort()
        else:
            request_route.continue_()

    problems = []
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=find_chromium(), args=CHROMIUM_ARGS, headless=True)
            try:
                context = browser.new_context(viewport={"width": 1280, "height": 1000})
                context.route("**/*", route)
                for path in pages:
                    problems += _check_page(context, html_dir, path, local, path in must_have_figure,
                                            remote_requests, screenshots)
            finally:
                browser.close()
    finally:
        server.shutdown()
        server.server_close()
    return problems


def _check_page(context, html_dir: Path, path: Path, local: str, needs_figure: bool, remote_requests: list[str],
                screenshots: Path | None) -> list[str]:
    url = f"http://{local}/{path.as_posix()}"
    html = (html_dir / path).read_text()
    size_mb = len(html.encode()) / 1e6
    soup = BeautifulSoup(html, "html.parser")
    problems = []
    remote = remote_resources(soup, url)
    if remote:
        problems.append(f"{path}: loads from another host: {', '.join(remote)}")
    if size_mb > PAGE_LIMIT_MB:
        problems.append(f"{path}: {size_mb:.1f} MB of HTML, more than {PAGE_LIMIT_MB:g} MB")
    expected = len(_FIGURE.findall(html))
    if expected == 0 and needs_figure:
        problems.append(f"{path}: a chapter page with no figure in its HTML")
    errors: list[str] = []
    remote_requests.clear()
    page = context.new_page()
    page.on("pageerror", lambda error: errors.append(str(error).splitlines()[0]))
    try:
        page.goto(url, wait_until="load")
        try:
            page.wait_for_function(f"sel => ({_FIGURES_JS})(sel).every(f => f.drawn)", arg=_SELECT, timeout=WAIT_MS)
        except Exception:  # reported below, figure by figure
            pass
        page.evaluate(_MATHJAX_JS)
        figures = _figures(page)
        drawn = sum(f["drawn"] for f in figures)
        if expected:
            status = "ok" if drawn == expected else "NOT DRAWN"
            print(f"[figures] {path}: {drawn}/{expected} drawn {status}", flush=True)
            if drawn != expected:
                problems.append(f"{path}: {drawn} of {expected} figures drawn")
        rendered = BeautifulSoup(page.content(), "html.parser")
        if math_elements(soup):
            problems += check_math(path, soup, rendered)
        controls = [(i, kind, k) for i, f in enumerate(figures) if f["drawn"]
                    for kind, n in (("menu", f["menus"]), ("slider", f["sliders"])) for k in range(n)]
        if screenshots is not None and drawn:  # the first explorer figure (else the first figure) as first drawn
            first = next((i for i, _, _ in controls), next(i for i, f in enumerate(figures) if f["drawn"]))
            screenshots.mkdir(parents=True, exist_ok=True)
            page.locator(_SELECT).nth(first).screenshot(path=str(screenshots / f"{path.stem}.png"))
        for i, layout in enumerate(page.evaluate(_LAYOUT_JS, _SELECT)):  # before any dropdown is opened
            if layout and len(layout["items"]) > 1:
                problems += [f"{path}: figure {i + 1}: {p}" for p in layout_problems(layout["frame"], layout["items"])]
        changed = 0
        for i, kind, k in controls:
            try:
                moved = _exercise(page, i, kind, k)
            except Exception as error:  # playwright's TimeoutError: the control could not be reached
                moved = False
                print(f"[controls] {path}: figure {i + 1}: {kind} {k + 1}: {str(error).splitlines()[0]}", flush=True)
            if moved:
                changed += 1
            else:
                problems.append(f"{path}: figure {i + 1}: {kind} {k + 1} did not change the plotted data")
        interactive = len({i for i, _, _ in controls})
        if controls:
            print(f"[controls] {path}: {changed}/{len(controls)} controls of {interactive} explorer figures changed "
                  f"the plotted data {'ok' if changed == len(controls) else 'NOT CHANGED'}", flush=True)
        new_remote = sorted(set(remote_requests) - set(remote))
        if new_remote:
            problems.append(f"{path}: requested from another host: {', '.join(new_remote)}")
        if errors:
            problems.append(f"{path}: {len(errors)} script errors: {'; '.join(errors[:3])}")
        print(f"[page] {path}: {drawn}/{expected} figures drawn, {changed}/{len(controls)} controls exercised "
              f"({interactive} explorer figures), {len(remote_requests)} remote requests, {size_mb:.2f} MB", flush=True)
    finally:
        page.close()
    return problems


def check_book(html_dir: Path, stage: Path, screenshots: Path | None = None) -> list[str]:
    """Check every page built from a notebook or Markdown file in ``stage``; return the problems, one line
    each (none: all good). Every notebook page must hold a figure."""
    notebooks = sorted(p.relative_to(stage) for p in stage.rglob("*.ipynb"))
    markdown = sorted(p.relative_to(stage) for p in stage.rglob("*.md"))  # the pages with no code (intro)
    pages = [src.with_suffix(".html") for src in notebooks + markdown if (html_dir / src.with_suffix(".html")).exists()]
    missing = [nb for nb in notebooks if not (html_dir / nb.with_suffix(".html")).exists()]
    problems = [f"{nb}: no HTML page was built" for nb in missing]
    problems += check_pages(html_dir, pages, {nb.with_suffix(".html") for nb in notebooks}, screenshots)
    if not problems:
        print(f"[figures] all figures drawn, all controls exercised and all math typeset on {len(pages)} pages, "
              f"nothing loaded from another host", flush=True)
    return problems


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m l2m.figcheck", description=__doc__.splitlines()[0])
    parser.add_argument("html", nargs="?", default="_build/html", help="the built book")
    parser.add_argument("--screenshots", default=str(BUILD / "screenshots"), help="one PNG of a figure per chapter")
    args = parser.parse_args(argv)
    problems = check_book(Path(args.html), STAGE, Path(args.screenshots))
    if problems:
        print("[figures] FAILED: figure and math check failed:\n  " + "\n  ".join(problems), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
