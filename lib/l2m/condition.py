"""The L2M condition measured (chapter 05): the sweep's runs side by side with what the data asks for.

The paper's theorem (NeurIPS version Thm. 5.4 with Def. 5.3; Thm. 5.2 of the first version): the bipartite
MI a causal model can capture is bounded by the size of its history state, I_q ≤ C·dim(z) + ln M, so dim(z)
must grow at least like the data's I_BP ~ L^β. Here z_ℓ = f(x_{1:ℓ−1}) leaves out the current token x_ℓ
(NeurIPS Def. 5.3; the footnote to Def. 5.1 of the first version): the model's predictions of Y depend on X
through (z, x_ℓ), and ln M bounds what x_ℓ adds, H(x_ℓ) ≤ ln M for M symbols. Each proof route (Appx. E of
the NeurIPS version) bounds I(z; Ŷ) by C·dim(z) alone; chapter 05 states the routes and what each costs (the
Lipschitz route's continuity term grows with the length of Y, so its C grows like ln L). This module turns the
runs of the sweep (:mod:`l2m.sweep`) into the chapter's tables:

- :func:`gaussian_runs`: one row per Gaussian run — average KL, its history-state size at L;
- :func:`reference_kl`: the exact reference predictors' average KL at every L of the sweep
  (:mod:`l2m.references`), drawn on every KL figure;
- :func:`captured_runs`: each trained model's likelihood gain at the equal split,
  G = E_p[ln q(Y|X) − ln p(Y)] = I_BP − Σ_{t in Y} KL_t (the Barber–Agakov lower bound on I_BP with the model
  as decoder, not the theorem's I_q), measured directly with the exact marginal p(Y) (:mod:`l2m.captured`) and
  checked against I_BP − Σ_{t in Y} KL_t from the run's own per-position KL;
- :func:`state_table`: history-state sizes against L beside the data's exact I_BP, its
  minimal linear state and a power law fitted to text (chapter 01).
"""
from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pandas as pd

from . import bipartite, cache, captured, gaussian, hilberg, models, passes, references, runs, state, sweep


def gaussian_runs(finished: list[runs.Run]) -> pd.DataFrame:
    """One row per Gaussian run: label, L, average KL, history-state size at L (formula), its convergence verdict
    (:mod:`l2m.convergence`: ``converged`` is True only for "converged") and the drop a doubling still gave."""
    rows = []
    for run in finished:
        cfg = run.config
        if cfg.task != "gaussian":
            continue
        hs = state.history_state(run.model_config)
        rows.append({"label": sweep.label(cfg), "arch": cfg.arch, "size": cfg.size, "L": cfg.seq_len,
                     "layers": cfg.layers, "family": cfg.family, "channels": cfg.channels,
                     "position_embedding": cfg.position_embedding or cfg.arch == "gpt2", "average_kl": run.average,
                     "state": hs.at(cfg.seq_len), "convergence": run.convergence["verdict"], "converged": run.converged,
                     "doubling_drop": run.convergence.get("drop", np.nan),
                     "drop_tolerance": run.convergence.get("tolerance", np.nan), "run": run})
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
    """Likelihood gain at the equal split ℓ = L/2 for every Gaussian run (nats per channel).

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
    of I_BP, × channels) at the equal split and, for 99 %, at the split that maximises I_BP.
    """
    minimal = references.minimal_state_table(max_layers, family)
    at_max = references.minimal_state_table(max_layers, family, split="max")
    out = pd.DataFrame({"L": minimal["seq_len"].to_numpy()})
    for name, group in table.groupby("label", sort=False):
        hs = state.history_state(group["run"].iloc[0].model_config)
        out[name] = [hs.at(int(L)) for L in out["L"]]
    out["I_BP(L/2) × channels (nats)"] = minimal["bipartite_mi"].to_numpy() * channels
    for column in minimal.columns:
        fraction = references.column_fraction(column)
        if fraction is not None:
            out[f"minimal linear state, {100 * fraction:g} % of I_BP (× channels)"] = minimal[column].to_numpy() * channels
    out["minimal linear state at the maximising split, 99 % (× channels)"] = (
        at_max[references.pairs_column(0.99)].to_numpy() * channels)
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
    """NLL against position of the text runs, as moving means over ``width`` positions (NeurIPS Fig. 4; Fig. 5 of the first version).

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
    gain fraction at the longest L — what the paper's claims are read from (NeurIPS Fig. 3; Fig. 4 of the first version)."""
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
        row["gain / I_BP at longest L"] = float(caught[caught["label"] == name]["fraction"].iloc[-1])
        rows.append(row)
    return pd.DataFrame(rows).set_index("run")
