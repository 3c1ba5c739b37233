"""Every figure of the book, with one shared look, rendered so the HTML book keeps it interactive.

Every figure carries the book's template (:data:`TEMPLATE`) itself. Importing this module changes
none of Plotly's defaults; a chapter's import cell calls :func:`use_book_style` first, which
registers the ``l2m`` renderer and makes ``plotly_mimetype+l2m`` the default. Jupyter Book 1.x
silently drops Plotly's own mime type (the page gets no figure and the build passes), so the ``l2m``
part adds a ``text/html`` copy of the figure that calls ``Plotly.newPlot`` without embedding
plotly.js: the book loads plotly.js once per page from ``_static/`` (see :mod:`l2m.build`). The
mime-type part keeps figures live in JupyterLab.

:func:`explorer_figure` carries a chapter's alternatives in one figure, switched by Plotly's own
dropdowns and sliders, so the published book can be explored without a kernel.
"""
from __future__ import annotations

import itertools
from typing import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio
from plotly.io.base_renderers import MimetypeRenderer

FIGURE_CLASS = "l2m-figure"  # marks a figure's <div> in the HTML; the browser check counts them


EXPLORER_KEY = "l2m_explorer"  # layout.meta entry of an explorer figure: its controls and states
# Runs after Plotly.newPlot on a book page: a figure with several controls shows the traces of the state that
# all of its controls select together (Plotly's buttons and slider steps set one control's value each).
EXPLORER_SCRIPT = """
var gd = document.getElementById('{plot_id}');
var ex = gd.layout.meta && gd.layout.meta.l2m_explorer;
if (ex && ex.controls.length > 1) {
  var show = function () {
    var key = ex.controls.map(function (c) {
      var item = (c.kind === 'slider' ? gd.layout.sliders : gd.layout.updatemenus)[c.index];
      return item.active || 0;
    }).join('|');
    var shown = ex.states[key] || [];
    var visible = gd.data.map(function (_, i) { return shown.indexOf(i) >= 0; });
    Plotly.update(gd, {visible: visible}, {'title.text': ex.titles[key]});
  };
  gd.on('plotly_buttonclicked', show);
  gd.on('plotly_sliderchange', show);
}
"""


def explorer_meta(fig: go.Figure | dict) -> dict | None:
    """The controls and states of an explorer figure (None for any other figure)."""
    layout = fig.get("layout", {}) if isinstance(fig, dict) else fig.layout.to_plotly_json()
    meta = layout.get("meta")
    return meta.get(EXPLORER_KEY) if isinstance(meta, dict) else None


class BookRenderer(MimetypeRenderer):
    """text/html with the figure's div and a newPlot call; plotly.js comes from the page."""

    def to_mimebundle(self, fig_dict: dict) -> dict:
        html = pio.to_html(
            fig_dict,
            include_plotlyjs=False,  # loaded once per page from _static/, never from a CDN
            include_mathjax=False,
            full_html=False,
            default_width="100%",
            default_height=480,
            config={"displaylogo": False, "responsive": True},
            validate=False,
            post_script=EXPLORER_SCRIPT if explorer_meta(fig_dict) else None,
        )
        return {"text/html": f'<div class="{FIGURE_CLASS}">{html}</div>'}


BOOK_LOOK = go.layout.Template(  # the book's part of the template, over plotly_white
    layout=go.Layout(
        font={"family": "Helvetica, Arial, sans-serif", "size": 13},
        colorway=["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf"],
        hovermode="closest",
        legend={"bgcolor": "rgba(255,255,255,0.7)"},
        margin={"l": 70, "r": 20, "t": 60, "b": 60},
    )
)
TEMPLATE = pio.templates.merge_templates("plotly_white", BOOK_LOOK)  # what "plotly_white+l2m" names


def use_book_style() -> None:
    """Make the book's renderer and template Plotly's defaults: the first call of a chapter's import cell.

    The renderer must be the default before any figure is displayed, or the HTML page gets no figure.
    """
    pio.renderers["l2m"] = BookRenderer()
    pio.renderers.default = "plotly_mimetype+l2m"
    pio.templates["l2m"] = BOOK_LOOK
    pio.templates.default = "plotly_white+l2m"
    _display_through_mime_bundles()


def _display_through_mime_bundles() -> None:
    """In IPython, show objects through their mime bundle, never their ``_ipython_display_``.

    A Plotly figure's ``_ipython_display_`` publishes the figure itself and hands IPython's formatter an
    empty bundle, so MyST-NB's ``glue(name, fig, display=False)`` would store nothing (and the figure would
    appear in the code cell instead of the named figure). ``Figure._repr_mimebundle_`` gives the same
    bundle through the renderer set above, so displaying and glueing both carry the figure.
    """
    try:
        from IPython import get_ipython
    except ImportError:  # no IPython: nothing displays figures
        return
    shell = get_ipython()
    if shell is not None:
        shell.display_formatter.ipython_display_formatter.enabled = False

DASHES = ("solid", "dash", "dot", "dashdot", "longdash")


def _axes(fig: go.Figure, x_title: str, y_title: str, log_x: bool, log_y: bool) -> go.Figure:
    fig.update_xaxes(title=x_title, type="log" if log_x else "linear", showline=True, mirror=True)
    fig.update_yaxes(title=y_title, type="log" if log_y else "linear", showline=True, mirror=True)
    return fig


def scaling_figure(
    x: np.ndarray,
    series: dict[str, np.ndarray | tuple[np.ndarray, np.ndarray]],
    fits: dict[str, object] | None = None,
    title: str = "",
    x_title: str = "L",
    y_title: str = "I (nats)",
    log_y: bool = True,
    errors: dict[str, np.ndarray] | None = None,
    references: dict[str, object] | None = None,
) -> go.Figure:
    """Measured points of each series and, for the names in ``fits``, the fitted curve.

    A series is y over ``x``, or an (x, y) pair of its own (series measured at different x).
    A fit is any callable of x with a ``label(var)`` (l2m.fit.PowerLawFit, LogLawFit,
    OffsetPowerLaw); it is drawn over a dense x grid in the series' colour, named by its
    formula in the variable ``x_title`` starts with. ``errors`` gives ±1 standard error bars per series; ``references`` are curves
    from elsewhere (e.g. the paper's fits), drawn grey and dotted.
    """
    fig = go.Figure(layout={"template": TEMPLATE})
    x = np.asarray(x, dtype=float)
    own_x = {name: np.asarray(v[0], dtype=float) for name, v in series.items() if isinstance(v, tuple)}
    all_x = np.concatenate([x, *own_x.values()])
    grid = np.geomspace(all_x.min(), all_x.max(), 200)
    colorway = BOOK_LOOK.layout.colorway
    hover = f"{x_title}=%{{x}}<br>%{{y:.4g}}"
    var = x_title.split()[-1] if x_title else "x"  # "distance d" -> d, "L" -> L
    for i, (name, y) in enumerate(series.items()):
        color = colorway[i % len(colorway)]
        error = (errors or {}).get(name)
        y = y[1] if isinstance(y, tuple) else y
        fig.add_scatter(x=own_x.get(name, x), y=y, name=name, mode="markers", marker={"color": color, "size": 8},
                        legendgroup=name,
                        error_y=None if error is None else {"array": error, "visible": True},
                        hovertemplate=hover + f"<extra>{name}</extra>")
        fit = (fits or {}).get(name)
        if fit is not None:
            fig.add_scatter(x=grid, y=fit(grid), name=f"fit {fit.label(var)}", mode="lines", legendgroup=name,
                            line={"color": color, "dash": "dash"}, hoverinfo="skip")
    for j, (name, curve) in enumerate((references or {}).items()):
        fig.add_scatter(x=grid, y=curve(grid), name=name, mode="lines", hoverinfo="skip",
                        line={"color": "#7f7f7f", "dash": DASHES[(j + 2) % len(DASHES)], "width": 1.5})
    fig.update_layout(title=title)
    return _axes(fig, x_title, y_title, log_x=True, log_y=log_y)


def lines_figure(
    x: np.ndarray,
    series: dict[str, np.ndarray],
    title: str = "",
    x_title: str = "",
    y_title: str = "",
    log_x: bool = False,
    log_y: bool = False,
    markers: bool = False,
) -> go.Figure:
    """One line per series over a shared x."""
    fig = go.Figure(layout={"template": TEMPLATE})
    for i, (name, y) in enumerate(series.items()):
        fig.add_scatter(x=x, y=y, name=name, mode="lines+markers" if markers else "lines",
                        line={"dash": DASHES[i % len(DASHES)]})
    fig.update_layout(title=title)
    return _axes(fig, x_title, y_title, log_x, log_y)


def heatmap_figure(matrix: np.ndarray, title: str = "", z_title: str = "", symmetric: bool = True) -> go.Figure:
    """A matrix as a heatmap, indices from 1, row 1 at the top; diverging colours around 0."""
    n = len(matrix)
    idx = np.arange(1, n + 1)
    limit = float(np.abs(matrix).max()) if symmetric else None
    fig = go.Figure(layout={"template": TEMPLATE}, data=go.Heatmap(
        z=matrix, x=idx, y=idx, colorscale="RdBu_r" if symmetric else "Viridis",
        zmin=-limit if symmetric else None, zmax=limit, colorbar={"title": z_title},
        hovertemplate="i=%{y}, j=%{x}<br>%{z:.4f}<extra></extra>",
    ))
    fig.update_layout(title=title, height=560, yaxis={"autorange": "reversed", "scaleanchor": "x"})
    return _axes(fig, "position j", "position i", log_x=False, log_y=False)


def curves_figure(
    x: np.ndarray,
    series: dict[str, np.ndarray],
    references: dict[str, object] | None = None,
    errors: dict[str, np.ndarray] | None = None,
    title: str = "",
    x_title: str = "",
    y_title: str = "",
    log_x: bool = False,
    log_y: bool = False,
    markers: bool = False,
) -> go.Figure:
    """Measured curves in colour (with ±1 standard-error bands from ``errors``) beside reference curves.

    ``markers`` marks the measured points (a sweep over a few lengths); the curves are joined
    lines either way.

    A reference is an array over ``x`` or a single number (a horizontal line), drawn grey and
    dashed: e.g. the exact predictors of the Gaussian data next to a trained model (chapter 04).
    Non-positive values are left out on a log axis.
    """
    fig = go.Figure(layout={"template": TEMPLATE})
    x = np.asarray(x, dtype=float)
    colorway = BOOK_LOOK.layout.colorway
    hover = f"{x_title or 'x'}=%{{x}}<br>%{{y:.4g}}"
    for i, (name, y) in enumerate(series.items()):
        color = colorway[i % len(colorway)]
        error = (errors or {}).get(name)
        if error is not None:
            low = np.asarray(y) - error
            if log_y:  # a band reaching 0 cannot be drawn on a log axis: stop it at a tenth of the value
                low = np.maximum(low, 0.1 * np.asarray(y))
            band_y = np.concatenate([np.asarray(y) + error, low[::-1]])
            fig.add_scatter(x=np.concatenate([x, x[::-1]]), y=band_y, fill="toself", line={"width": 0},
                            fillcolor=color, opacity=0.2, hoverinfo="skip", showlegend=False, legendgroup=name)
        fig.add_scatter(x=x, y=y, name=name, mode="lines+markers" if markers else "lines", line={"color": color},
                        legendgroup=name,
                        hovertemplate=hover + f"<extra>{name}</extra>")
    for j, (name, ref) in enumerate((references or {}).items()):
        y = np.broadcast_to(np.asarray(ref, dtype=float), x.shape)
        if log_y:
            y = np.where(y > 0, y, np.nan)
        fig.add_scatter(x=x, y=y, name=name, mode="lines", hovertemplate=hover + f"<extra>{name}</extra>",
                        line={"color": "#7f7f7f", "dash": DASHES[(j + 1) % len(DASHES)], "width": 1.5})
    fig.update_layout(title=title)
    return _axes(fig, x_title, y_title, log_x, log_y)


def points_figure(
    groups: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]],
    references: dict[str, tuple[np.ndarray, np.ndarray]] | None = None,
    labels: dict[str, Sequence[str]] | None = None,
    title: str = "",
    x_title: str = "",
    y_title: str = "",
    log_x: bool = False,
    lines: bool = False,
    log_y: bool = False,
    hollow: dict[str, Sequence[bool]] | None = None,
) -> go.Figure:
    """Measured points with ±1 standard-error bars, one colour per group, beside reference curves.

    ``hollow`` marks points drawn open (chapter 05: runs that have not converged, on which no claim rests).
    A group is (x, y, stderr) with points at x of its own (e.g. runs at their state sizes, chapter 05);
    ``labels`` names each point in its hover text; ``lines`` joins a group's points. A reference is an
    (x, y) curve, drawn grey and dashed.
    """
    fig = go.Figure(layout={"template": TEMPLATE})
    colorway = BOOK_LOOK.layout.colorway
    for i, (name, (x, y, se)) in enumerate(groups.items()):
        text = list((labels or {}).get(name, [name] * len(x)))
        fig.add_scatter(x=x, y=y, error_y={"type": "data", "array": se, "visible": True}, name=name,
                        mode="lines+markers" if lines else "markers", text=text,
                        marker={"size": 9, "color": colorway[i % len(colorway)], "symbol": [
                            "circle-open" if h else "circle" for h in (hollow or {}).get(name, [])] or "circle"},
                        hovertemplate=f"%{{text}}<br>{x_title or 'x'}=%{{x}}<br>%{{y:.3f}} ± %{{error_y.array:.3f}}"
                                      f"<extra>{name}</extra>")
    for j, (name, (x, y)) in enumerate((references or {}).items()):
        fig.add_scatter(x=x, y=y, name=name, mode="lines", hovertemplate=f"{x_title or 'x'}=%{{x}}<br>%{{y:.3f}}"
                        f"<extra>{name}</extra>",
                        line={"color": "#7f7f7f", "dash": DASHES[(j + 1) % len(DASHES)], "width": 1.5})
    fig.update_layout(title=title)
    return _axes(fig, x_title, y_title, log_x, log_y)


def _state_key(indices: Sequence[int]) -> str:
    return "|".join(str(i) for i in indices)


# Measured in the built book (Chromium, 1280-px window): plot areas of 358–428 px beside their legends; a dropdown's
# header is about 6.1 px per character of its longest entry plus 45 px (5 → 76 px, 24 → 178 px, 34 → 242 px).
MENU_PLOT_PX = 350  # a little under the narrowest plot area measured: dropdowns placed by it never meet
MENU_CHAR_PX = 6.5  # per character of a dropdown's longest label, rounded up
MENU_FIXED_PX = 50  # the dropdown's arrow and padding, and a gap to the next one


def _menu_width(labels: Sequence[str], name: str) -> float:
    """The width a dropdown takes, as a fraction of the plot area: Plotly sizes a dropdown's header to its
    longest entry, so dropdowns placed at fixed steps overlapped where one entry was long (chapter 01)."""
    chars = max(len(str(label)) for label in [*labels, f"{name}:"])
    return (chars * MENU_CHAR_PX + MENU_FIXED_PX) / MENU_PLOT_PX


def explorer_figure(
    frames: Mapping[tuple[str, ...], go.Figure | Sequence],
    controls: Sequence[str],
    sliders: Sequence[str] = (),
    default: tuple[str, ...] | None = None,
    title: str = "",
    height: int | None = None,
) -> go.Figure:
    """One figure holding every alternative of ``frames``, switched by Plotly dropdowns and sliders.

    ``frames`` maps a state, one value per name in ``controls``, to what that state shows: a figure
    made by this module (its traces, its title; the axes are those of the first frame) or a list of
    traces. A control named in ``sliders`` is a slider (for ordered values: layers, lengths), the
    others are dropdowns; values keep the order in which the keys first name them. A state that
    ``frames`` lacks shows no trace and says so in its title. ``default`` (else the first key) is the
    state drawn first.

    Every trace of every frame is in the figure, visible only in its own state. With one control its
    buttons or slider steps set the visibility themselves (this works in JupyterLab too); with more,
    a book page combines the controls' choices (:data:`EXPLORER_SCRIPT`, added by the book's renderer).
    ``layout.meta["l2m_explorer"]`` records the controls and, per state, the indices of its traces.
    """
    controls = list(controls)
    if not frames or any(len(key) != len(controls) for key in frames):
        raise ValueError(f"every key of frames needs one value per control {controls}")
    unknown = set(sliders) - set(controls)
    if unknown:
        raise ValueError(f"sliders {sorted(unknown)} are not among the controls {controls}")
    values = [list(dict.fromkeys(str(key[k]) for key in frames)) for k in range(len(controls))]
    by_state = {tuple(str(v) for v in key): frame for key, frame in frames.items()}
    first = next(iter(frames.values()))
    fig = go.Figure(layout=first.layout if isinstance(first, go.Figure) else {"template": TEMPLATE})
    default = tuple(str(v) for v in (default or next(iter(frames))))
    states, titles = {}, {}
    for combo in itertools.product(*[range(len(v)) for v in values]):
        state = tuple(values[k][i] for k, i in enumerate(combo))
        frame = by_state.get(state)
        label = ", ".join(f"{name} = {value}" for name, value in zip(controls, state))
        if frame is None:
            states[_state_key(combo)] = []
            titles[_state_key(combo)] = f"{title + ': ' if title else ''}{label}: not measured"
            continue
        traces = frame.data if isinstance(frame, go.Figure) else frame
        frame_title = frame.layout.title.text if isinstance(frame, go.Figure) else None
        titles[_state_key(combo)] = frame_title or (f"{title}: {label}" if title else label)
        start = len(fig.data)
        for trace in traces:
            fig.add_trace(trace)
            fig.data[-1].visible = state == default
        states[_state_key(combo)] = list(range(start, len(fig.data)))
    n_traces = len(fig.data)

    def update(k: int, i: int) -> dict:
        """What choosing value i of control k does by itself: exact when it is the only control."""
        combo = [values[j].index(default[j]) for j in range(len(controls))]
        combo[k] = i
        shown = set(states[_state_key(combo)])
        return {"method": "update" if len(controls) == 1 else "skip", "label": values[k][i],
                "args": [{"visible": [t in shown for t in range(n_traces)]}, {"title.text": titles[_state_key(combo)]}]}

    menus, slider_list, meta_controls, annotations = [], [], [], []
    menu_x = 0.0  # where the next dropdown starts, in the plot area's widths: after the widest label of the last
    for k, name in enumerate(controls):
        active = values[k].index(default[k])
        if name in sliders:
            steps = [update(k, i) for i in range(len(values[k]))]
            slider_list.append({"active": active, "steps": steps, "currentvalue": {"prefix": f"{name} = "},
                                "x": 0.0, "len": 1.0, "y": -0.18 - 0.22 * len(slider_list), "yanchor": "top",
                                "pad": {"t": 10, "b": 0}})
            meta_controls.append({"name": name, "kind": "slider", "index": len(slider_list) - 1, "values": values[k]})
        else:
            x = menu_x
            menu_x += _menu_width(values[k], name)
            menus.append({"type": "dropdown", "active": active, "buttons": [update(k, i) for i in range(len(values[k]))],
                          "x": x, "xanchor": "left", "y": 1.03, "yanchor": "bottom", "showactive": True,
                          "pad": {"t": 0, "b": 0}})
            annotations.append({"text": f"{name}:", "x": x, "y": 1.19, "xref": "paper", "yref": "paper",
                                "xanchor": "left", "yanchor": "bottom", "showarrow": False, "font": {"size": 12}})
            meta_controls.append({"name": name, "kind": "menu", "index": len(menus) - 1, "values": values[k]})
    default_key = _state_key([values[k].index(default[k]) for k in range(len(controls))])
    base_height = height or (fig.layout.height or 480)
    fig.update_layout(
        updatemenus=menus, sliders=slider_list, annotations=list(fig.layout.annotations) + annotations,
        title={"text": titles[default_key], "y": 0.98, "yanchor": "top"},
        margin={"t": 150 if menus else 70, "b": 80 + 95 * len(slider_list)},
        height=base_height + (80 if menus else 0) + 95 * len(slider_list),
        meta={EXPLORER_KEY: {"controls": meta_controls, "states": states, "titles": titles}},
    )
    return fig


def explorer_state_traces(fig: go.Figure, state: Sequence[str]) -> list[int]:
    """Indices of the traces an explorer figure shows when its controls select ``state`` (one value each)."""
    meta = explorer_meta(fig)
    combo = [c["values"].index(str(v)) for c, v in zip(meta["controls"], state)]
    return list(meta["states"][_state_key(combo)])
