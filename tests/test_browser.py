"""Explorer figures: each state of their controls shows exactly its traces, and in Chromium their dropdowns and
sliders change the plotted data (l2m.plots.explorer_figure, l2m.figcheck)."""
import itertools
import shutil
from pathlib import Path

import numpy as np
import plotly.io as pio
import pytest

from l2m import figcheck, plots

plots.use_book_style()  # registers the l2m renderer, as every chapter's import cell does
needs_chromium = pytest.mark.skipif(figcheck.shutil.which("chromium") is None and not Path(figcheck.CHROMIUM).exists(),
                                    reason="needs Debian's chromium (installed by .ci/run)")
X = np.array([1.0, 2, 4, 8])
FAMILIES, LAYERS, KINDS = ("power", "log"), ("2", "3", "4"), ("exact", "fit")


def frames(skip: tuple = ()) -> dict:
    """One two-trace figure per (family, layers, kind) state, every y distinct, ``skip`` left out."""
    out = {}
    for n, state in enumerate(itertools.product(FAMILIES, LAYERS, KINDS)):
        if state not in skip:
            out[state] = plots.lines_figure(X, {f"{state} a": X * n, f"{state} b": X * n + 0.5}, title=" ".join(state))
    return out


def shown(fig) -> list[int]:
    return [i for i, t in enumerate(fig.data) if t.visible]


def test_each_state_shows_exactly_its_traces():
    missing = ("log", "4", "fit")
    fig = plots.explorer_figure(frames(skip=(missing,)), ["family", "layers", "kind"], sliders=["layers"])
    assert len(fig.data) == 2 * (12 - 1) and shown(fig) == [0, 1]  # the first state is drawn first
    seen = []
    for state in itertools.product(FAMILIES, LAYERS, KINDS):
        traces = plots.explorer_state_traces(fig, state)
        if state == missing:
            assert traces == []
            continue
        assert [fig.data[i].name for i in traces] == [f"{state} a", f"{state} b"]
        seen += traces
    assert sorted(seen) == list(range(len(fig.data)))  # every trace belongs to exactly one state
    meta = plots.explorer_meta(fig)
    assert meta["titles"]["1|2|1"].endswith("not measured") and meta["titles"]["0|0|0"] == "power 2 exact"
    assert [m.type for m in fig.layout.updatemenus] == ["dropdown", "dropdown"] and len(fig.layout.sliders) == 1
    assert [s.label for s in fig.layout.sliders[0].steps] == list(LAYERS)


def test_one_control_switches_by_itself_and_default_state():
    fig = plots.explorer_figure({(f,): plots.lines_figure(X, {f: X * i}) for i, f in enumerate(FAMILIES)}, ["family"],
                                default=("log",))
    assert shown(fig) == [1] and fig.layout.updatemenus[0].active == 1
    for i, button in enumerate(fig.layout.updatemenus[0].buttons):
        assert button.method == "update" and button.args[0]["visible"] == [j == i for j in range(2)]
    several = plots.explorer_figure(frames(), ["family", "layers", "kind"])
    assert {b.method for m in several.layout.updatemenus for b in m.buttons} == {"skip"}  # the page's script combines


def test_bad_frames_are_refused():
    with pytest.raises(ValueError, match="one value per control"):
        plots.explorer_figure({("a", "b"): plots.lines_figure(X, {"a": X})}, ["only"])
    with pytest.raises(ValueError, match="sliders"):
        plots.explorer_figure({("a",): plots.lines_figure(X, {"a": X})}, ["only"], sliders=["other"])


def test_book_renderer_adds_the_combining_script_to_explorers_only():
    explorer = pio.renderers["l2m"].to_mimebundle(plots.explorer_figure(frames(), ["f", "l", "k"]).to_dict())
    plain = pio.renderers["l2m"].to_mimebundle(plots.lines_figure(X, {"a": X}).to_dict())
    assert "plotly_buttonclicked" in explorer["text/html"] and "plotly_buttonclicked" not in plain["text/html"]


def write_page(folder: Path, name: str, *figures, extra: str = "") -> Path:
    import plotly

    shutil.copy(Path(plotly.__file__).parent / "package_data" / "plotly.min.js", folder)
    divs = "".join(pio.renderers["l2m"].to_mimebundle(f.to_dict())["text/html"] for f in figures)
    (folder / name).write_text(f'<html><head><script src="plotly.min.js"></script></head><body>{divs}{extra}</body></html>')
    return Path(name)


def test_layout_problems_are_overlaps_and_escapes():
    frame = [0, 0, 600, 400]
    assert figcheck.layout_problems(frame, [("dropdown 1", [10, 10, 200, 40]), ("dropdown 2", [200, 10, 400, 40])]) == []
    assert figcheck.layout_problems(frame, [("dropdown 1", [10, 10, 230, 40]), ("dropdown 2", [200, 10, 400, 40])]) == [
        "dropdown 1 overlaps dropdown 2 (30 × 30 px)"]
    assert figcheck.layout_problems(frame, [("slider 1", [10, 350, 620, 420])]) == ["slider 1 reaches outside the figure"]


def test_dropdowns_with_long_labels_are_placed_after_one_another():
    long = {(e, m): plots.lines_figure(X, {f"{e} {m}": X}) for e in ("direct (2-gram corrected)", "vCLUB")
            for m in ("smollm2-135m on books", "gemma3-270m on books, a longer name")}
    fig = plots.explorer_figure(long, ["estimator", "model and corpus"])
    first, second = fig.layout.updatemenus
    assert second.x - first.x >= (len("direct (2-gram corrected)") * plots.MENU_CHAR_PX + 40) / plots.MENU_PLOT_PX


@needs_chromium
@pytest.mark.slow
def test_browser_moves_every_control_and_counts_remote_requests(tmp_path, capsys):
    explorer = plots.explorer_figure(frames(), ["family", "layers", "kind"], sliders=["layers"])
    single = plots.explorer_figure({(f,): plots.lines_figure(X, {f: X * i}) for i, f in enumerate(FAMILIES)}, ["family"])
    pairs = itertools.product(("direct (2-gram corrected)", "vCLUB"), ("smollm2-135m on books", "gemma3-270m on wiki"))
    long = plots.explorer_figure({(e, m): plots.lines_figure(X, {f"{e} {m}": X * (i + 1)})
                                  for i, (e, m) in enumerate(pairs)}, ["estimator", "model and corpus"])
    good = write_page(tmp_path, "good.html", plots.lines_figure(X, {"plain": X}), explorer, single, long)
    dead = plots.explorer_figure(frames(), ["family", "layers", "kind"])
    dead.layout.meta = None  # without its meta the page cannot combine the controls: they change nothing
    bad = write_page(tmp_path, "bad.html", dead, extra='<img src="http://192.0.2.1/pixel.png">')
    shots = tmp_path / "shots"
    problems = figcheck.check_pages(tmp_path, [good, bad], set(), screenshots=shots)
    out = capsys.readouterr().out
    assert "[controls] good.html: 6/6 controls of 3 explorer figures changed the plotted data ok" in out
    assert "[page] good.html: 4/4 figures drawn, 6/6 controls exercised (3 explorer figures), 0 remote requests" in out
    assert problems == [f"bad.html: figure 1: menu {k} did not change the plotted data" for k in (1, 2, 3)] + [
        "bad.html: requested from another host: http://192.0.2.1/pixel.png"]
    assert (shots / "good.png").read_bytes()[:4] == b"\x89PNG"
