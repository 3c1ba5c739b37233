"""The natural-language experiment's claims, figure and tables: GPT2 against Mamba, NLL by position (chapter 05).

The paper (Sec. 5; NeurIPS Fig. 4 at 8192 tokens, Fig. G.9 at 4096; first version Fig. 5 and Table F.1) trains
GPT2 and Mamba of similar sizes on PG19 and reads four claims off their NLL at every position t:

1. at comparable size Mamba is as good or better at early positions;
2. GPT2 pulls ahead at later positions;
3. Mamba's NLL flattens beyond some position (unless the model grows) while GPT2's keeps falling;
4. the gap narrows as both grow.

Here each is a number with a bootstrap standard deviation over held-out documents (:mod:`l2m.textruns`, paired:
every run is scored on the same windows) and a three-way verdict (:mod:`l2m.claims`). Early is the first decade of
positions (t ≤ ``EARLY``), late the last decade (L/10 < t ≤ L); "flat" is the slope of NLL against ln t over the last
decade. A claim whose runs have not all converged (:mod:`l2m.convergence`) is "not resolved", its numbers shown.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from . import claims, convergence, paper, plots, runs, textruns
from .claims import Claim

EARLY = 10  # early positions: t = 1..10, the first decade
FLAT = convergence.RELATIVE_TEXT  # "flat": the NLL changes by less than this share of itself over the last decade
FIGURE_WHERE = "NeurIPS Fig. 4 (first version Fig. 5)"


@dataclass(frozen=True)
class Pair:
    """A GPT2 run and a Mamba run of similar size, scored on the same held-out windows."""

    gpt2: runs.Run
    mamba: runs.Run
    gpt2_nll: textruns.PositionNLL
    mamba_nll: textruns.PositionNLL

    @property
    def label(self) -> str:
        return f"{short_label(self.gpt2)} vs {short_label(self.mamba)}"

    @property
    def converged(self) -> bool:
        return self.gpt2.converged and self.mamba.converged


def short_label(run: runs.Run) -> str:
    """``gpt2 2×64 (428k)``: architecture, layers × width, parameters."""
    m = run.model_config
    return f"{m.arch} {m.n_layer}×{m.d_model} ({run.metrics['n_params'] / 1e3:,.0f}k)"


def text_runs(finished: list[runs.Run]) -> list[runs.Run]:
    """The text runs of a sweep, in order."""
    return [r for r in finished if r.config.task == "text"]


def pairs(finished: list[runs.Run], per_doc: int = textruns.PER_DOC) -> list[Pair]:
    """GPT2 and Mamba runs of one corpus, tokenizer and length, matched by rank of parameter count (smallest
    with smallest), smallest pair first; runs without a partner are left out."""
    groups: dict[tuple, dict[str, list[runs.Run]]] = {}
    for r in text_runs(finished):
        c = r.config
        groups.setdefault((c.corpus, c.tokenizer, c.seq_len), {}).setdefault(c.arch, []).append(r)
    found = []
    for group in groups.values():
        by_size = {a: sorted(group.get(a, []), key=lambda r: r.metrics["n_params"]) for a in ("gpt2", "mamba")}
        for g, m in zip(by_size["gpt2"], by_size["mamba"]):
            found.append(Pair(g, m, textruns.position_nll(g, per_doc, short_label(g)),
                              textruns.position_nll(m, per_doc, short_label(m))))
    for p in found:
        textruns.check_paired([p.gpt2_nll, p.mamba_nll])
    return sorted(found, key=lambda p: p.gpt2.metrics["n_params"])


def early_weights(seq_len: int) -> np.ndarray:
    """w with w·curve = the curve's mean over t = 1..EARLY."""
    w = np.zeros(seq_len)
    w[: min(EARLY, seq_len)] = 1 / min(EARLY, seq_len)
    return w


def late_weights(seq_len: int) -> np.ndarray:
    """w with w·curve = the curve's mean over the last decade, L/10 < t ≤ L."""
    t = np.arange(1, seq_len + 1)
    late = t > seq_len / 10
    return late / late.sum()


def slope_weights(seq_len: int) -> np.ndarray:
    """w with w·curve = the least-squares slope of the curve against ln t over the last decade (nats per e-fold)."""
    t = np.arange(1, seq_len + 1)
    late = t > seq_len / 10
    x = np.where(late, np.log(t) - np.log(t[late]).mean(), 0.0)
    return x / (x**2).sum()


def _statistic(weights: np.ndarray, curves: list[np.ndarray], signs: list[float], draws: list[np.ndarray]
               ) -> tuple[float, float, np.ndarray]:
    """(value, bootstrap sd, value under every redraw) of Σ sign · w·curve."""
    value = float(sum(s * weights @ c for s, c in zip(signs, curves)))
    redrawn = sum(s * d @ weights for s, d in zip(signs, draws))
    return value, float(np.std(redrawn, ddof=1)), redrawn


def _gate(verdict: str, converged: bool, why: str) -> tuple[str, str]:
    """No claim rests on a run that has not converged: its verdict becomes "not resolved", the numbers' own said."""
    if converged or verdict == claims.UNRESOLVED:
        return verdict, why
    return claims.UNRESOLVED, f"not every run converged, so no claim rests on them (the numbers alone: {verdict}); {why}"


def _both(*verdicts: str) -> str:
    """A claim made of parts: it holds when every part holds, fails when one fails, else is not resolved."""
    if all(v == claims.HOLDS for v in verdicts):
        return claims.HOLDS
    return claims.FAILS if claims.FAILS in verdicts else claims.UNRESOLVED


def _row(claim: str, measured: str, test: str, judge, values: tuple[float, ...], redrawn, converged: bool,
         why: str) -> Claim:
    """A claims row: ``judge(*values)`` is the numbers' verdict, ``judge(*r)`` for every redraw ``r`` (tuples, e.g. a
    ``zip`` of the statistics' redrawn values) its stability; gated on convergence. The redraws' share belongs to the
    numbers' own verdict, so a gated row has none."""
    verdict, share = claims.stability(judge(*values), [judge(*r) for r in redrawn])
    gated, why = _gate(verdict, converged, why)
    return Claim(claim, FIGURE_WHERE, measured, gated, test, why, stable=share if gated == verdict else None)


def pair_claims(pair: Pair, draws: np.ndarray) -> list[Claim]:
    """Claims 1–3 for one pair: early, late, flattening. ``draws``: :func:`l2m.textruns.redraws` of its documents."""
    g, m = pair.gpt2_nll, pair.mamba_nll
    n = g.sums.shape[1]
    bg, bm = textruns.bootstrap(g, draws), textruns.bootstrap(m, draws)
    why = (f"{pair.label}: far smaller than the paper's models, on the book's corpus with a {pair.gpt2.model_config.vocab_size}"
           f"-token BPE, L = {n}")
    early, early_sd, early_r = _statistic(early_weights(n), [g.mean, m.mean], [1, -1], [bg, bm])
    margin = FLAT * float(early_weights(n) @ m.mean)
    rows = [_row(
        "At comparable size Mamba is as good as or better than GPT2 at early positions",
        f"{pair.label}: GPT2 − Mamba at t ≤ {EARLY}: {early:+.3f} ± {early_sd:.3f} nats",
        f"whole 2-sd interval above −{margin:.3f} (as good: within 1 % of the NLL, what a doubling of the budget "
        "may still change in a converged run)",
        lambda v: claims.exceeds(v, early_sd, 0.0, -margin), (early,), zip(early_r), pair.converged, why)]
    late, late_sd, late_r = _statistic(late_weights(n), [m.mean, g.mean], [1, -1], [bm, bg])
    rows.append(_row(
        "GPT2 pulls ahead of Mamba at later positions",
        f"{pair.label}: Mamba − GPT2 at t > {n // 10}: {late:+.3f} ± {late_sd:.3f} nats",
        "whole 2-sd interval above 0 (an ordering: no margin)",
        lambda v: claims.exceeds(v, late_sd, 0.0), (late,), zip(late_r), pair.converged, why))
    sm, sm_sd, sm_r = _statistic(slope_weights(n), [m.mean], [1], [bm])
    sg, sg_sd, sg_r = _statistic(slope_weights(n), [g.mean], [1], [bg])
    flat = FLAT * float(late_weights(n) @ m.mean) / np.log(10)  # 1 % of the NLL over the decade, per e-fold

    def flattening(mamba_slope: float, gpt2_slope: float) -> str:
        return _both(claims.compare(mamba_slope, sm_sd, 0.0, flat), claims.falls_below(gpt2_slope, sg_sd, 0.0, flat))

    rows.append(_row(
        "Mamba's NLL flattens over the last decade of positions while GPT2's still falls",
        f"{pair.label}: slope of NLL against ln t at t > {n // 10}: Mamba {sm:+.4f} ± {sm_sd:.4f}, GPT2 {sg:+.4f} ± "
        f"{sg_sd:.4f} nats per e-fold",
        f"Mamba's slope within ±{flat:.4f} of 0 and GPT2's below −{flat:.4f}, both with their 2-sd intervals (flat: a "
        "change under 1 % of the NLL over the decade, the text runs' convergence tolerance)",
        flattening, (sm, sg), zip(sm_r, sg_r), pair.converged, why))
    return rows


def gap_claim(small: Pair, large: Pair, draws: np.ndarray) -> Claim:
    """Claim 4: GPT2's late-position lead over Mamba (Mamba − GPT2 at late t) is smaller for the larger pair.

    The claim presumes a lead to narrow: where GPT2 is not ahead late in the smaller pair (its lead's 2-sd interval
    at or below 0), it does not hold, whatever the larger pair does (a growing Mamba lead is no narrowing gap)."""
    textruns.check_paired([small.gpt2_nll, small.mamba_nll, large.gpt2_nll, large.mamba_nll])
    n = small.gpt2_nll.sums.shape[1]
    nlls = [small.mamba_nll, small.gpt2_nll, large.mamba_nll, large.gpt2_nll]
    boots = [textruns.bootstrap(r, draws) for r in nlls]
    lead, lead_sd, lead_r = _statistic(late_weights(n), [r.mean for r in nlls[:2]], [1, -1], boots[:2])
    shrink, sd, redrawn = _statistic(late_weights(n), [r.mean for r in nlls], [1, -1, -1, 1], boots)

    def narrows(lead_value: float, shrink_value: float) -> str:
        return _both(claims.exceeds(lead_value, lead_sd, 0.0), claims.exceeds(shrink_value, sd, 0.0))

    return _row("The late-position gap narrows as both models grow",
                f"GPT2's lead at t > {n // 10} (Mamba − GPT2) in the smaller pair: {lead:+.3f} ± {lead_sd:.3f} nats; "
                f"smaller pair − larger pair: {shrink:+.3f} ± {sd:.3f} nats",
                "both whole 2-sd intervals above 0: GPT2 ahead late in the smaller pair, and by less in the larger "
                "(orderings: no margin)", narrows, (lead, shrink), zip(lead_r, redrawn),
                small.converged and large.converged,
                f"{small.label} against {large.label}: two small pairs on the book's corpus")


def chapter_claims(found: list[Pair], seed: int = 0) -> list[Claim]:
    """Every pair's claims 1–3 and, with two pairs or more, claim 4 between the smallest and the largest."""
    rows: list[Claim] = []
    for p in found:
        rows += pair_claims(p, textruns.redraws(len(p.gpt2_nll.doc_ids), seed=seed))
    if len(found) >= 2:
        rows.append(gap_claim(found[0], found[-1], textruns.redraws(len(found[0].gpt2_nll.doc_ids), seed=seed)))
    return rows


@dataclass(frozen=True)
class Ordering:
    """Which model is ahead where: the smoothed GPT2 − Mamba against position with its paired ±2-sd band."""

    label: str
    centres: np.ndarray  # positions of the log-spaced windows (geometric means)
    difference: np.ndarray  # (windows,) GPT2 − Mamba, averaged over each window
    band: np.ndarray  # (windows,) 2 bootstrap sd of that difference (paired: the same redraws for both runs)
    gain: float  # how much GPT2 gains on Mamba from t ≤ EARLY to the last decade: (GPT2 − Mamba) early − late
    gain_sd: float  # its bootstrap sd (paired)

    @property
    def mamba_ahead(self) -> np.ndarray:
        """(windows,) bool: the band lies above 0 (GPT2's NLL higher)."""
        return self.difference - self.band > 0

    @property
    def gpt2_ahead(self) -> np.ndarray:
        """(windows,) bool: the band lies below 0."""
        return self.difference + self.band < 0

    @property
    def gpt2_from(self) -> float | None:
        """The first window's position from which GPT2 is ahead in every later window (None: not at the end)."""
        if not self.gpt2_ahead[-1]:
            return None
        behind = np.flatnonzero(~self.gpt2_ahead)
        return float(self.centres[behind[-1] + 1 if len(behind) else 0])

    def sentence(self) -> str:
        n, m, g = len(self.centres), int(self.mamba_ahead.sum()), int(self.gpt2_ahead.sum())
        where = (f"GPT2 is ahead from t ≈ {self.gpt2_from:,.0f} on" if self.gpt2_from is not None else
                 "GPT2 is not ahead at the last positions")
        return (f"{self.label}: of {n} position windows Mamba is ahead (the ±2-sd band of GPT2 − Mamba above 0) in {m}, "
                f"GPT2 in {g}, neither in {n - m - g}; {where}; from t ≤ {EARLY} to the last decade GPT2 gains "
                f"{self.gain:+.3f} ± {self.gain_sd:.3f} nats on Mamba ({self.gain_reading})")

    @property
    def gain_reading(self) -> str:
        """What the gain's 2-sd interval says: GPT2 gains, loses ground, or no change is resolved."""
        if self.gain - 2 * self.gain_sd > 0:
            return "GPT2 uses the later past better than Mamba"
        if self.gain + 2 * self.gain_sd < 0:
            return "GPT2 loses ground along the context"
        return "no change resolved: its 2-sd interval holds 0"


def ordering(pair: Pair, draws: np.ndarray) -> Ordering:
    """Where each model of the pair is ahead, window by window of :func:`l2m.textruns.log_bins` (the figure's lower
    panel): the paper's picture is Mamba ahead early and GPT2 from some position on."""
    return _ordering(pair, textruns.bootstrap(pair.gpt2_nll, draws), textruns.bootstrap(pair.mamba_nll, draws))


def _ordering(pair: Pair, gpt2_redrawn: np.ndarray, mamba_redrawn: np.ndarray) -> Ordering:
    """:func:`ordering` from the runs' bootstrap redraws (the figure has them already for its upper panel)."""
    n = pair.gpt2_nll.sums.shape[1]
    centres, smooth = textruns.log_bins(n)
    band = 2 * ((gpt2_redrawn - mamba_redrawn) @ smooth.T).std(0, ddof=1)
    # the paper's mechanism without its crossover: a growing cache uses the later past better than a fixed state, so
    # GPT2 − Mamba falls along the context even where GPT2 is not ahead yet
    gain, gain_sd, _ = _statistic(early_weights(n) - late_weights(n), [pair.gpt2_nll.mean, pair.mamba_nll.mean], [1, -1],
                                  [gpt2_redrawn, mamba_redrawn])
    return Ordering(pair.label, centres, smooth @ (pair.gpt2_nll.mean - pair.mamba_nll.mean), band, gain, gain_sd)


def orderings(found: list[Pair], seed: int = 0) -> str:
    """One sentence a pair: where each model is ahead (chapter 05's reading of the figure)."""
    if not found:
        return NO_TEXT_RUNS
    return "; ".join(ordering(p, textruns.redraws(len(p.gpt2_nll.doc_ids), seed=seed)).sentence() for p in found)


def run_table(found: list[Pair]) -> pd.DataFrame:
    """Each run's size, tokens seen, seconds, evaluation NLLs and convergence verdict (the closing note's numbers)."""
    rows = []
    for p in found:
        for r, nll in ((p.gpt2, p.gpt2_nll), (p.mamba, p.mamba_nll)):
            c, conv = r.config, r.convergence
            rows.append({"run": short_label(r), "parameters": r.metrics["n_params"], "L": c.seq_len,
                         "vocabulary": r.model_config.vocab_size, "tokens seen": c.steps * c.batch * c.seq_len,
                         "train s": round(r.train_s), "eval NLL (random windows)": round(r.average, 4),
                         "NLL (sentence windows)": round(float(nll.mean.mean()), 4), "windows": nll.windows,
                         "documents": len(nll.doc_ids), "convergence": conv["verdict"],
                         "NLL at N/2 − NLL at N": round(conv.get("drop", float("nan")), 4),
                         "allowed": round(conv.get("tolerance", float("nan")), 4)})
    return pd.DataFrame(rows)


def paper_table() -> pd.DataFrame:
    """The paper's average NLLs at L = 4096 (first version, Table F.1), for scale: GPT-NeoX tokens of PG19."""
    return pd.DataFrame([{"paper's run": k, "average NLL (nats per token)": v} for k, v in paper.TABLE_F1.items()])


def position_figure(found: list[Pair], seed: int = 0) -> go.Figure:
    """NLL against position (log axis, smoothed over log-spaced windows, ±2 bootstrap sd) and GPT2 − Mamba below.

    Runs that have not converged are drawn dotted and named so."""
    from plotly.subplots import make_subplots

    n = found[0].gpt2_nll.sums.shape[1]
    centres, smooth = textruns.log_bins(n)
    series, errors, diffs, diff_errors, unconverged = {}, {}, {}, {}, set()
    for p in found:
        draws = textruns.redraws(len(p.gpt2_nll.doc_ids), seed=seed)
        bg, bm = textruns.bootstrap(p.gpt2_nll, draws), textruns.bootstrap(p.mamba_nll, draws)
        for r, nll, b in ((p.gpt2, p.gpt2_nll, bg), (p.mamba, p.mamba_nll, bm)):
            name = nll.label + ("" if r.converged else " (not converged)")
            unconverged |= set() if r.converged else {name}
            series[name], errors[name] = smooth @ nll.mean, 2 * (b @ smooth.T).std(0, ddof=1)
        name = f"GPT2 − Mamba, {p.label}" + ("" if p.converged else " (not converged)")
        unconverged |= set() if p.converged else {name}
        lower = _ordering(p, bg, bm)
        diffs[name], diff_errors[name] = lower.difference, lower.band
    top = plots.curves_figure(centres, series, errors=errors, log_x=True)
    bottom = plots.curves_figure(centres, diffs, references={"0": 0.0}, errors=diff_errors, log_x=True)
    colorway = plots.BOOK_LOOK.layout.colorway
    for i, trace in enumerate(t for t in bottom.data if t.name in diffs or (t.showlegend is False and t.fill)):
        color = colorway[(len(series) + i // 2) % len(colorway)]  # band then line: after the runs' colours
        if trace.fill:
            trace.fillcolor = color
        else:
            trace.line.color = color
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.62, 0.38], vertical_spacing=0.06)
    for row, part in ((1, top), (2, bottom)):
        for trace in part.data:
            if trace.name in unconverged:
                trace.line.dash = "dot"
            fig.add_trace(trace, row=row, col=1)
    fig.update_layout(template=plots.TEMPLATE, height=680, legend={"orientation": "h", "y": -0.15, "x": 0})
    fig.update_xaxes(type="log", row=1, col=1)
    fig.update_xaxes(type="log", title_text="position t (log-spaced windows, 16 a decade)", row=2, col=1)
    fig.update_yaxes(title_text="NLL (nats per token)", row=1, col=1)
    fig.update_yaxes(title_text="GPT2 − Mamba (nats)", row=2, col=1)
    return fig


NO_TEXT_RUNS = ("the grid has no text runs: the default and quick presets cannot afford them within the book's "
                "30 minutes; presets/grids/text.yml has GPT2 and Mamba trained on books")


def status(found: list[Pair]) -> str:
    """One line: what the section shows, or that the grid has no text runs."""
    if not found:
        return NO_TEXT_RUNS
    r = found[0].gpt2
    return (f"{len(found)} GPT2–Mamba pair{'s' if len(found) > 1 else ''} trained on {r.config.corpus} at L = "
            f"{r.config.seq_len} with a {r.model_config.vocab_size:,}-token vocabulary")


def empty_figure() -> go.Figure:
    """The figure's place when the grid has no text runs: the one line, no axes."""
    fig = go.Figure(layout={"template": plots.TEMPLATE, "height": 160})
    fig.add_annotation(text=NO_TEXT_RUNS, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return fig


def note(found: list[Pair], rows: list[Claim]) -> str:
    """The closing note: each run's size, tokens, seconds, final evaluation NLL and convergence; each claim's numbers."""
    if not found:
        return NO_TEXT_RUNS
    table = run_table(found)
    parts = [f"{r['run']}: {r['parameters']:,} parameters, {r['tokens seen']:,} tokens in {r['train s']:,} s, "
             f"evaluation NLL {r['eval NLL (random windows)']:.3f} (sentence windows {r['NLL (sentence windows)']:.3f}), "
             f"{r['convergence']}" for r in table.to_dict("records")]
    if not any(p.gpt2.converged or p.mamba.converged for p in found):
        parts.insert(0, "no text run converged (a doubling of its budget still lowered its NLL by more than the 1 % "
                        "allowed), so every claim is not resolved and what its numbers alone say is given with it")
    for c in rows:
        own = re.search(r"\(the numbers alone: ([^)]*)\)", c.why)  # a gated row: what its numbers said
        parts.append(f"{c.claim}, {c.measured}: {c.verdict}" + (f" (the numbers alone: {own[1]})" if own else ""))
    return "; ".join(parts)
