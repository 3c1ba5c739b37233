"""Math renders offline: MathJax comes with the book (no CDN), and the browser check sees it typeset.

A one-page book with the repository's own _config.yml is built with Jupyter Book (a few seconds),
so pointing the config back at a CDN, or dropping the offline MathJax, fails here.
"""
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from bs4 import BeautifulSoup

from l2m import figcheck

REPO = Path(__file__).resolve().parents[1]
needs_chromium = pytest.mark.skipif(shutil.which("chromium") is None,
                                    reason="needs Debian's chromium (installed by .ci/run)")
PAGE = r"""# Math

Inline $I(X; Y) \approx A\,L^{\beta}$ and $\mathbb E[\log q(Y\mid X)]$, and displayed:

$$
\hat I_{\rm direct} = \sum_{\ell} \frac{1}{n} \log \frac{q(y \mid x)}{q(y)}
$$
"""


@pytest.fixture(scope="module")
def book_html(tmp_path_factory) -> Path:
    """_build/html of a one-page book with the repository's _config.yml."""
    src = tmp_path_factory.mktemp("mathbook")
    shutil.copy(REPO / "_config.yml", src / "_config.yml")
    (src / "_toc.yml").write_text("format: jb-book\nroot: index\n")
    (src / "index.md").write_text(PAGE)
    jupyter_book = Path(sys.executable).parent / "jupyter-book"
    result = subprocess.run([str(jupyter_book), "build", str(src), "-W", "-n", "--keep-going", "--quiet"],
                            cwd=src, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return src / "_build" / "html"


def test_config_brings_mathjax_and_names_no_cdn():
    config = yaml.safe_load((REPO / "_config.yml").read_text())
    assert "sphinx-mathjax-offline" in config["sphinx"].get("extra_extensions", [])
    assert "://" not in str(config["sphinx"].get("config", {}).get("mathjax_path", ""))


def test_built_page_loads_mathjax_from_the_book(book_html):
    soup = BeautifulSoup((book_html / "index.html").read_text(), "html.parser")
    mathjax = [s["src"] for s in soup.find_all("script", src=True) if "mathjax" in s["src"].lower()]
    assert mathjax == ["_static/mathjax/tex-chtml.js"]
    assert (book_html / mathjax[0]).is_file()
    assert (book_html / "_static" / "mathjax" / "output" / "chtml" / "fonts" / "woff-v2").is_dir()
    assert figcheck.remote_resources(soup, "http://127.0.0.1:8000/index.html") == []
    assert len(figcheck.math_elements(soup)) == 3
    # MathJax's components stay out of every page's <head> (Jupyter Book adds the book's _static/*.js)
    assert len(soup.find_all("script", src=True)) < 30


@needs_chromium
def test_browser_check_sees_math_typeset_offline(book_html, capsys):
    assert figcheck.check_pages(book_html, [Path("index.html")], set()) == []
    assert "[math] index.html: 3/3 typeset ok" in capsys.readouterr().out


@needs_chromium
def test_browser_check_flags_cdn_mathjax_and_tex_errors(book_html):
    math = r'<p><span class="math">\(x^2\)</span></p><div class="math">\[\int_0^1 x\,dx\]</div>'
    cdn = "https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-mml-chtml.js"
    (book_html / "cdn.html").write_text(f'<html><head><script defer src="{cdn}"></script></head><body>{math}</body></html>')
    local = '<script defer src="_static/mathjax/tex-chtml.js"></script>'
    broken = r'<p><span class="math">\(\frac{1}\)</span></p>'
    (book_html / "broken.html").write_text(f"<html><head>{local}</head><body>{broken}</body></html>")
    problems = figcheck.check_pages(book_html, [Path("cdn.html"), Path("broken.html")], set())
    assert problems == [
        f"cdn.html: loads from another host: {cdn}",
        "cdn.html: 0 of 2 math elements typeset by MathJax",
        "broken.html: 1 math elements show a TeX error (mjx-merror)",
    ]
