"""The L2M condition measured (chapter 05): the sweep's runs side by side with what the data asks for.

The paper's theorem (Sec. 5): the bipartite MI a causal model can capture is bounded by the
size of its history state, I_q ≤ C·dim(z) + ln M, so dim(z) must grow at least like the data's
I_BP ~ L^β. This module turns the runs of the sweep (:mod:`l2m.sweep`) into the chapter's tables:

- :func:`gaussian_runs`: one row per Gaussian run — average KL, its history-state size at L;
- :func:`reference_kl`: the exact reference predictors' average KL at every L of the sweep
  (:mod:`l2m.references`), drawn on every KL figure;
- :func:`captured_runs`: the bipartite MI each trained model captures at the equal split,
  measured directly with the exact marginal p(Y) (:mod:`l2m.captured`) and checked against
  I_BP − Σ_{t in Y} KL_t from the run's own per-position KL;
- :func:`state_table`: history-state sizes against L beside the data's exact I_BP, its
  minimal linear state and a power law fitted to text (chapter 01).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from . import bipartite, cache, captured, gaussian, hilberg, models, passes, references, runs, state, sweep
from .corpus import CORPORA
from .params import Rule, between, one_of, param

# The default grid (chapter 05): a state scan at L = 64 and fixed against grown state over L = 16, 64, 256,
# 2 channels. Small SSM states come from a two-layer Mamba of width 32 whose SSM is narrowed by a fractional
# expand (d_inner = expand · d_model) with d_conv 2: its state n_layer · d_inner · (d_state + d_conv − 1) goes
# from 7 numbers up, while the per-token layers keep their width. swa sees the last window tokens (one layer).
SMALL_MAMBA = {"arch": "mamba", "n_layer": 2, "d_model": 32, "d_conv": 2, "d_state": 2, "steps": 2000}
DEFAULT_GRID = (
    SMALL_MAMBA | {"layers": 3, "expand": [1 / 32, 1 / 8, 1 / 4, 1 / 2, 2]},
    {"arch": ["mamba", "mamba2"], "layers": 3},
    {"arch": "mamba2", "layers": 3, "n_layer": 1, "d_model": 4, "expand": 1, "d_conv": 2, "d_state": 2},
    {"arch": "swa", "layers": 3, "n_layer": 1, "window": [2, 4, 16]},
    SMALL_MAMBA | {"layers": [2, 3, 4], "expand": 1 / 16, "series": "fixed state"},
    SMALL_MAMBA | {"layers": [2, 3, 4], "expand": 1 / 16, "grow": "d_state", "series": "state grown like L^β"},
    {"arch": "gpt2", "layers": [2, 4], "series": "gpt2"},
    {"arch": "gpt2", "layers": 3, "steps": 3000, "series": "gpt2"},
)


@dataclass(frozen=True)
class L2MChapter:
    """Parameters of chapter 05 (book/05_l2m.ipynb)."""

    # the rule checks the shape; check() names the first bad entry or key (validate keeps its message)
    grid: tuple = param(DEFAULT_GRID, Rule(sweep.grid_shape, "a non-empty list of dicts of chapter-04 parameters, each "
                                                        "value a value or a list of values", "the runs of the sweep"))
    size: str = param("tiny", one_of(models.SIZE_NAMES, "model size of every run unless its grid entry says"))
    channels: int = param(2, between(1, 1024, "Gaussian channels per token"))
    steps: int = param(1000, between(1, 10**8, "optimiser steps of every run unless its entry says"))
    batch: int = param(0, between(0, 1 << 20, "sequences per step of every run unless its entry says; 0 means "
                                              "tokens_per_step / L"))
    tokens_per_step: int = param(2048, between(0, 1 << 24, "tokens per step where batch is 0"))
    lr: float = param(1e-2, between(1e-8, 1.0, "peak learning rate", integer=False))
    warmup: int = param(100, between(0, 10**8, "warm-up steps"))
    eval_sequences: int = param(128, between(1, 10**7, "held-out sequences of the per-position evaluation"))
    seed: int = param(0, between(0, 2**31 - 1, "seed of the weights, the batches and the captured-MI samples"))
    device: str = param("auto", one_of(("auto", "cpu", "cuda"), "where the runs train"))
    dtype: str = param("float32", one_of(("float32", "bfloat16"), "training precision"))
    workers: int = param(2, between(1, 256, "runs trained at once, each on cpu_count / workers threads or its own GPU"))
    captured_sequences: int = param(256, between(2, 10**7, "sequences of the captured-MI measurement"))
    scan_layers: int = param(3, between(1, gaussian.MAX_LAYERS, "the state scan's length L = 4**scan_layers"))
    text_model: str = param("smollm2-135m", Rule(lambda v: hilberg.check_model_name(v, allow_empty=True),
                                                 hilberg.MODEL_RULE + ", or '' to skip",
                                                 "scoring model of the text bipartite-MI fit"))
    text_corpus: str = param("books", one_of(CORPORA, "corpus of the text bipartite-MI fit"))
    text_n_docs: int = param(24, between(2, 10**6, "windows of the text fit (chapter 01's n_docs reuses its scores)"))
    text_max_len: int = param(2048, one_of(tuple(2**k for k in range(3, 15)), "largest L of the text fit"))
    text_k_pairings: int = param(1, between(1, 64, "vCLUB pairings of the text fit"))
    text_other_ratios_max_len: int = param(512, one_of(tuple(2**k for k in range(3, 15)),
                                                       "largest L of the text fit's other ratios (as chapter 01)"))

    @property
    def shared(self) -> dict:
        """Chapter-04 parameters every run shares unless its grid entry says otherwise."""
        return {k: getattr(self, k) for k in sweep.SHARED if k != "batch" or self.batch}

    def points(self) -> list[dict]:
        return sweep.expand(self.grid, self.shared, self.tokens_per_step)

    def series(self) -> dict[str, tuple[str, ...]]:
        """Run folder name → the series (grid entries' ``series``) the run belongs to."""
        points, names = sweep.expand_series(self.grid, self.shared, self.tokens_per_step)
        return {sweep.run_folder(p).name: n for p, n in zip(points, names, strict=True) if n}

    def check(self) -> None:
        self.points()  # every run of the grid must be a valid chapter-04 run (the error names the entry)


def gaussian_runs(finished: list[runs.Run]) -> pd.DataFrame:
    """One row per Gaussian run: label, L, average KL, history-state size at L (formula)."""
    rows = []
    for run in finished:
        cfg = run.config
        if cfg.task != "gaussian":
            continue
        hs = state.history_state(run.model_config)
        rows.append({"label": sweep.label(cfg), "arch": cfg.arch, "size": cfg.size, "L": cfg.seq_len,
                     "layers": cfg.layers, "family": cfg.family, "channels": cfg.channels,
                     "position_embedding": cfg.position_embedding or cfg.arch == "gpt2", "average_kl": run.average,
                     "state": hs.at(cfg.seq_len), "run": run})
    return pd.DataFrame(rows).sort_values(["label", "L"], kind="stable").reset_index(drop=True)


def covariance(layers: int, family: str, seq_len: int | None = None) -> np.ndarray:
    cov = gaussian.covariance(layers, family)
    return cov[:seq_len, :seq_len] if seq_len else cov


def reference_kl(lengths: list[tuple[int, int]], family: str, windows: tuple[int, ...] = (1, 4, 16)) -> pd.DataFrame:
    """Average KL of every exact reference predictor at each (layers, L): columns are the references."""
    rows = {}
    for layers, seq_len in lengths:
        refs = references.gaussian_references(covariance(layers, family, seq_len), windows)
        rows[seq_len] = {name: float(np.mean(kl)) for name, kl in refs.items()}
    return pd.DataFrame.from_dict(rows, orient="index").sort_index()


def captured_runs(table: pd.DataFrame, n_sequences: int, seed: int = 0, device: str = "cpu") -> pd.DataFrame:
    """Captured bipartite MI at the equal split ℓ = L/2 for every Gaussian run (nats per channel).

    ``measured`` is the direct estimate E_p[ln q(Y|X) − ln p(Y)] on fresh sequences with the trained
    model as q; ``from_kl`` is I_BP − Σ_{t in Y} KL_t from the run's evaluation (the two agree up
    to Monte Carlo error: a check of both); ``exact`` is I_BP(L/2). Cached per trained run.
    """
    rows = []
    for _, row in table.iterrows():
        run, seq_len = row["run"], int(row["L"])
        cov, ell = covariance(int(row["layers"]), row["family"], seq_len), seq_len // 2

        # metrics.json holds the run's parameters, code digest, loss curve and evaluation: it identifies the
        # trained weights, so a run trained again into the same folder is measured again
        fingerprint = cache.key_digest({"metrics": (run.folder / "metrics.json").read_text()})
        key = {"run": fingerprint, "n_sequences": n_sequences, "seed": seed, "ell": ell, "device": device}
        measure = functools.partial(_measure_captured, run.folder, cov, int(row["channels"]), ell, n_sequences, seed,
                                    device)
        result = cache.load_or_compute("captured", key, measure, modules=(captured, gaussian))
        exact = float(gaussian.bipartite_mi(cov, ell))
        rows.append({"label": row["label"], "arch": row["arch"], "L": seq_len, "layers": int(row["layers"]),
                     "channels": int(row["channels"]), "exact": exact, "measured": float(result["measured"]),
                     "stderr": float(result["stderr"]),
                     "from_kl": captured.expected_captured_mi(cov, ell, run.per_position),
                     "state": row["state"], "folder": run.folder.name, "run": run})
    out = pd.DataFrame(rows)
    out["fraction"] = out["measured"] / out["exact"]
    return out


def _measure_captured(folder: Path, cov: np.ndarray, channels: int, ell: int, n_sequences: int, seed: int,
                      device: str) -> dict:
    model = runs.load_model(folder, device)
    est, se = captured.measure_captured_mi(model, cov, channels, ell, n_sequences, seed, device)
    return {"measured": est, "stderr": se}


def reference_captured(lengths: list[tuple[int, int]], family: str, windows: tuple[int, ...] = (1, 4, 16)) -> pd.DataFrame:
    """Fraction of I_BP(L/2) each exact reference predictor captures: 1 − Σ_{t in Y} KL_t / I_BP."""
    rows = {}
    for layers, seq_len in lengths:
        cov, ell = covariance(layers, family, seq_len), seq_len // 2
        exact = float(gaussian.bipartite_mi(cov, ell))
        refs = references.gaussian_references(cov, windows)
        rows[seq_len] = {name: captured.expected_captured_mi(cov, ell, kl) / exact for name, kl in refs.items()}
    return pd.DataFrame.from_dict(rows, orient="index").sort_index()


def state_table(table: pd.DataFrame, max_layers: int, family: str, channels: int) -> pd.DataFrame:
    """History-state size of every architecture at L = 4..4**max_layers beside the data's needs.

    Columns: one per run label (numbers the model keeps after L tokens, by the formula), the exact
    I_BP(L/2) × channels (nats), and the minimal linear state (canonical pairs for 90 % and 99 %
    of I_BP, × channels).
    """
    minimal = references.minimal_state_table(max_layers, family)
    out = pd.DataFrame({"L": minimal["seq_len"].to_numpy()})
    for name, group in table.groupby("label", sort=False):
        hs = state.history_state(group["run"].iloc[0].model_config)
        out[name] = [hs.at(int(L)) for L in out["L"]]
    out["I_BP(L/2) × channels (nats)"] = minimal["bipartite_mi"].to_numpy() * channels
    for column in minimal.columns:
        fraction = references.column_fraction(column)
        if fraction is not None:
            out[f"minimal linear state, {100 * fraction:g} % of I_BP (× channels)"] = minimal[column].to_numpy() * channels
    return out.set_index("L")


def text_fit(model: str, corpus: str, n_docs: int, max_len: int, k_pairings: int, seed: int = 0,
             device: str = "auto", other_ratios_max_len: int | None = None) -> object:
    """A·L^β fitted to the vCLUB bipartite MI of text at L/ℓ = 2, measured as in chapter 01.

    With chapter 01's model, corpus, windows and pairings every pass is read from its score cache.
    """
    from . import lm

    scorer = lm.make_scorer(model, "transformers", models.resolve_device(device).type, "float32")
    m = bipartite.measure(scorer, corpus, n_docs, max_len, passes.RATIOS, k_pairings, seed, compression=False,
                          other_max_len=other_ratios_max_len)
    return hilberg.fits_by_ratio(m, "vclub", n_boot=0, seed=seed)[min(passes.RATIOS)][0]


def text_curves(finished: list[runs.Run], width: int = 8) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """NLL against position of the text runs, as moving means over ``width`` positions (Fig. 5).

    Returns the positions (the centre of each window, 1-based) and one curve per run label; runs
    of other lengths than the first text run's are left out.
    """
    text = [r for r in finished if r.config.task == "text"]
    if not text:
        return np.array([]), {}
    seq_len = text[0].config.seq_len
    kernel = np.ones(width) / width
    curves = {sweep.label(r.config): np.convolve(r.per_position, kernel, mode="valid")
              for r in text if r.config.seq_len == seq_len}
    return np.arange(len(next(iter(curves.values())))) + (width + 1) / 2, curves


def sweep_summary(table: pd.DataFrame, caught: pd.DataFrame, blind: pd.Series) -> pd.DataFrame:
    """Per run label: state size, rise of the average KL from the shortest to the longest L, last-quarter
    KL, the average KL over the exact best position-blind linear predictor's (``blind``: average KL by L) at every L, and the
    captured fraction at the longest L — what the paper's claims are read from (Fig. 4)."""
    rows = []
    for name, group in table.groupby("label", sort=False):
        first, last = group.iloc[0], group.iloc[-1]
        quarter = max(1, int(last["L"]) // 4)
        row = {"run": name, "state at longest L": int(last["state"]),
               f"KL at L = {int(last['L'])} / KL at L = {int(first['L'])}": last["average_kl"] / first["average_kl"],
               "last-quarter KL": float(last["run"].per_position[-quarter:].mean())}
        # below 1: the run uses position, or (without a position signal) counts positions from BOS: the reference is
        # exact for linear position-blind predictors only
        for r in group.itertuples():
            row[f"KL / position-blind reference, L = {r.L}"] = r.average_kl / float(blind.loc[r.L])
        row["captured fraction at longest L"] = float(caught[caught["label"] == name]["fraction"].iloc[-1])
        rows.append(row)
    return pd.DataFrame(rows).set_index("run")
