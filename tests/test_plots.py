"""Figures render as text/html for the book: no plotly.js inside, no CDN; and the browser check."""
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import plotly.io as pio
import pytest

from l2m import figcheck, plots
from l2m.fit import fit_power_law

plots.use_book_style()  # as every chapter's import cell does


def test_importing_plots_leaves_plotlys_defaults_alone():
    code = ("import plotly.io as pio; before = (pio.renderers.default, pio.templates.default); import l2m.plots; "
            "assert (pio.renderers.default, pio.templates.default) == before, (pio.renderers.default, before); "
            "assert 'l2m' not in pio.renderers and 'l2m' not in pio.templates")
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, timeout=120)


def test_figures_carry_the_template_without_the_book_style():
    code = ("import numpy as np; from l2m import plots; fig = plots.lines_figure(np.arange(3.0), {'a': np.arange(3.0)}); "
            "assert fig.layout.template.layout.colorway == plots.BOOK_LOOK.layout.colorway; "
            "assert fig.layout.template.layout.plot_bgcolor == 'white'")
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, timeout=120)


def small_figure():
    x = np.array([4.0, 16, 64])
    return plots.scaling_figure(x, {"power": x**0.8}, fits={"power": fit_power_law(x, x**0.8)})


def test_book_renderer_is_default_and_embeds_no_plotly_js():
    bundle = pio.renderers["l2m"].to_mimebundle(small_figure().to_dict())
    html = bundle["text/html"]
    assert html.startswith(f'<div class="{plots.FIGURE_CLASS}">') and "Plotly.newPlot" in html
    assert "http://" not in html and "https://" not in html and "<script src" not in html  # no CDN
    assert len(html) < 50_000  # plotly.js itself is ~4.5 MB
    assert pio.renderers.default == "plotly_mimetype+l2m"


def test_figures_have_the_book_template():
    fig = small_figure()
    assert fig.layout.xaxis.type == "log" and len(fig.data) == 2
    assert fig.data[1].name.startswith("fit 1·L^0.800")
    heat = plots.heatmap_figure(np.eye(3) - 0.2)
    assert heat.data[0].zmin == -0.8 and heat.data[0].zmax == 0.8


def write_page(folder: Path, with_plotly_js: bool) -> Path:
    import plotly

    html = pio.renderers["l2m"].to_mimebundle(small_figure().to_dict())["text/html"]
    script = '<script src="plotly.min.js"></script>' if with_plotly_js else ""
    shutil.copy(Path(plotly.__file__).parent / "package_data" / "plotly.min.js", folder)
    page = folder / ("good.html" if with_plotly_js else "bad.html")
    page.write_text(f"<html><head>{script}</head><body>{html}</body></html>")
    return Path(page.name)


@pytest.mark.skipif(shutil.which("chromium") is None, reason="needs Debian's chromium (installed by .ci/run)")
@pytest.mark.slow
def test_browser_check_sees_drawn_and_missing_figures(tmp_path):
    good, bad = write_page(tmp_path, True), write_page(tmp_path, False)
    (tmp_path / "empty.html").write_text("<html><body>no figure</body></html>")
    problems = figcheck.check_pages(tmp_path, [good, bad, Path("empty.html")], {Path("empty.html")})
    assert problems == ["bad.html: 0 of 1 figures drawn", "bad.html: 1 script errors: Plotly is not defined",
                        "empty.html: a chapter page with no figure in its HTML"]  # a page's script error fails it


def test_series_with_their_own_x():
    x2, x3 = np.array([4.0, 8, 16]), np.array([6.0, 12, 24])
    fig = plots.scaling_figure(x2, {"r = 2": x2**0.7, "r = 3": (x3, x3**0.7)},
                               fits={"r = 3": fit_power_law(x3, x3**0.7)})
    assert list(fig.data[0].x) == [4, 8, 16] and list(fig.data[1].x) == [6, 12, 24]
    assert fig.data[2].x.min() == 4 and fig.data[2].x.max() == pytest.approx(24)  # fit drawn over every x


def test_a_glued_figure_carries_its_html():
    # MyST-NB's glue stores what IPython's formatter returns; a Plotly figure's _ipython_display_ would
    # publish the figure itself and leave the glued record empty (the named figure then has no plot)
    import subprocess
    import sys

    code = ("from IPython.core.interactiveshell import InteractiveShell\n"
            "from IPython.core.formatters import format_display_data\n"
            "import plotly.graph_objects as go\n"
            "from l2m import plots\n"
            "InteractiveShell.instance()\n"
            "plots.use_book_style()\n"
            "bundle, _ = format_display_data(go.Figure(go.Scatter(x=[1, 2], y=[3, 4])))\n"
            "print(plots.FIGURE_CLASS in bundle.get('text/html', ''))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "True"


def test_the_build_drops_plotlys_mime_type_from_glued_figures_too():
    import nbformat

    from l2m.build import PLOTLY_MIMETYPE, drop_plotly_mimetype

    prefix = "application/papermill.record/"
    glued = nbformat.v4.new_output("display_data", data={prefix + "text/html": "<div></div>", prefix + PLOTLY_MIMETYPE: {}},
                                   metadata={"scrapbook": {"name": "fig-x", "mime_prefix": prefix}})
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("", outputs=[glued])])
    assert list(drop_plotly_mimetype(nb).cells[0].outputs[0].data) == [prefix + "text/html"]


def test_the_build_drops_progress_bar_widgets_and_the_widget_state():
    import nbformat

    from l2m.build import WIDGET_MIMETYPE, drop_progress_widgets

    bar = nbformat.v4.new_output("display_data", data={WIDGET_MIMETYPE: {"model_id": "x"}, "text/plain": "  0%|"})
    text = nbformat.v4.new_output("stream", name="stdout", text="kept\n")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("", outputs=[bar, text])])
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    cleaned = drop_progress_widgets(nb)
    assert cleaned.cells[0].outputs == [text] and "widgets" not in cleaned.metadata


def test_points_drawn_hollow_are_the_unconverged_ones():
    fig = plots.points_figure({"a": (np.array([1, 2, 3]), np.array([0.1, 0.2, 0.3]), np.zeros(3))},
                              hollow={"a": [False, True, False]}, log_y=True)
    assert list(fig.data[0].marker.symbol) == ["circle", "circle-open", "circle"]
    assert fig.layout.yaxis.type == "log"
    plain = plots.points_figure({"a": (np.array([1, 2]), np.array([0.1, 0.2]), np.zeros(2))})
    assert plain.data[0].marker.symbol == "circle" and plain.layout.yaxis.type != "log"
