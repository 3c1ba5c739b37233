"""What one training run can check (chapter 04): its claims, each with a three-way verdict.

A run's evaluation stores the mean loss at every position and its standard error over the evaluation
sequences (``metrics.json``). The positions share those sequences, so their errors are correlated; the
standard deviation of a mean over positions is taken as the mean of their standard errors, which bounds it
whatever the correlation (Minkowski: sd(Σ x_t) ≤ Σ sd(x_t)). A ratio of two such means gets the bound
sd(a/b) ≤ (a/b)·(sd_a/a + sd_b/b), again for any correlation. The exact reference predictors
(:mod:`l2m.references`) have no noise.

Kept out of :mod:`l2m.train` on purpose: that module is part of every run's key
(:func:`l2m.train.training_code_digest`), and a new claim must not retrain a run.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from . import claims, paper

FLAT_RATIO = 2.0  # "flat along the sequence": the last quarter of positions costs at most twice the first
POSITION_BLIND = "best linear, position-blind"  # reference names of l2m.references.gaussian_references
WINDOW_16 = "best linear, last 16 tokens"
# Table F.1 of the first version: half the gap between GPT2-125m and GPT2-355m, the smallest step between two of its
# models of one architecture; a measurement within it cannot be told from the paper's model
TABLE_F1_MARGIN = (paper.TABLE_F1["gpt2-125m"] - paper.TABLE_F1["gpt2-355m"]) / 2


def mean_with_sd(values: np.ndarray, stderr: np.ndarray) -> tuple[float, float]:
    """Mean over positions and a bound on its sd that holds for any correlation between positions."""
    return float(np.mean(values)), float(np.mean(stderr))


def ratio_with_sd(a: float, sd_a: float, b: float, sd_b: float) -> tuple[float, float]:
    """a / b and the bound (a/b)·(sd_a/|a| + sd_b/|b|) on its sd for any correlation (first order)."""
    r = a / b
    return r, abs(r) * (sd_a / abs(a) + sd_b / abs(b))


def chapter_claims(cfg: Any, per_position: np.ndarray, per_position_se: np.ndarray, reference_kl: dict,
                   device: str) -> list[claims.Claim]:
    """Chapter 04's claims for one run of ``cfg`` (a :class:`l2m.config.TrainConfig`).

    ``per_position`` and ``per_position_se``: the evaluation's loss at every position and its standard error;
    ``reference_kl``: the exact references by name (the learned-nothing one first), per position or a number.
    """
    per_position, per_position_se = np.asarray(per_position, float), np.asarray(per_position_se, float)
    metric = "KL" if cfg.task == "gaussian" else "NLL"
    average, average_sd = mean_with_sd(per_position, per_position_se)
    nothing_name, nothing = next(iter(reference_kl.items()))
    nothing = float(np.mean(nothing))
    paper_budget = (f"{paper.GAUSSIAN_TRAINING['steps']:,} steps" if cfg.task == "gaussian"
                    else f"{paper.TEXT_TRAINING['epochs']} epochs of {paper.TEXT_TRAINING['corpus']}")
    why_budget = f"{cfg.steps:,} steps of {cfg.batch} × L = {cfg.seq_len} on {device}; the paper: {paper_budget}"
    sd_note = "2 sd, the sd of a mean over positions bounded by the mean of their standard errors"
    rows = [claims.Claim(f"the model learned: average {metric} below {nothing_name}", "—",
                         f"{average:.4g} ± {average_sd:.2g} against {nothing:.4g}",
                         claims.falls_below(average, average_sd, nothing), f"ordering, no margin; {sd_note}", why_budget)]
    if cfg.task == "gaussian":
        quarter = max(1, cfg.seq_len // 4)
        if POSITION_BLIND in reference_kl:
            blind = float(np.mean(reference_kl[POSITION_BLIND]))
            rows.append(claims.Claim(
                "below the best position-blind linear predictor", "—", f"{average:.4g} ± {average_sd:.2g} against {blind:.4g}",
                claims.falls_below(average, average_sd, blind), f"ordering, no margin; {sd_note}",
                "a reference, exact for linear position-blind predictors; a position signal, or counting from BOS, "
                "lets a model go below it"))
        if WINDOW_16 in reference_kl:
            window16 = float(np.mean(np.asarray(reference_kl[WINDOW_16])[-quarter:]))
            last, last_sd = mean_with_sd(per_position[-quarter:], per_position_se[-quarter:])
            rows.append(claims.Claim(
                "over the last quarter of positions, below a fixed window of the last 16 tokens", "—",
                f"{last:.4g} ± {last_sd:.2g} against {window16:.4g}", claims.falls_below(last, last_sd, window16),
                f"ordering, no margin; {sd_note}", why_budget))
        if cfg.arch in ("gpt2", "mamba", "mamba2"):
            transformer = cfg.arch == "gpt2"
            first = mean_with_sd(per_position[:quarter], per_position_se[:quarter])
            last = mean_with_sd(per_position[-quarter:], per_position_se[-quarter:])
            rise, rise_sd = ratio_with_sd(*last, *first)
            test = claims.falls_below if transformer else claims.exceeds
            rows.append(claims.Claim(
                f"{cfg.arch}: the KL {'stays flat' if transformer else 'drifts up'} along the sequence "
                "(Fig. 4c/d of the first version)", "flat" if transformer else "rises",
                f"last quarter / first quarter = {rise:.2f} ± {rise_sd:.2f}", test(rise, rise_sd, FLAT_RATIO),
                f"{'below' if transformer else 'above'} a ratio of {FLAT_RATIO:g} by 2 sd (the ratio's sd bounded for any "
                "correlation): the book's reading of 'flat' on the paper's log-scaled KL axis, fixed before the runs; "
                "the paper states no number", why_budget + "; the first positions have few past tokens to use, so their KL "
                "is small for any model that learned, and the ratio is large wherever later positions are learned less"))
    elif f"{cfg.arch}-{cfg.size}" in paper.TABLE_F1:
        paper_nll = paper.TABLE_F1[f"{cfg.arch}-{cfg.size}"]
        comparable = cfg.corpus == "pg19" and cfg.seq_len == 4096
        rows.append(claims.Claim(
            f"average NLL at L = 4096 on PG19 (Table F.1 of the first version; the NeurIPS version drops it), "
            f"{cfg.arch}-{cfg.size}", f"{paper_nll:.3f}", f"{average:.3f} ± {average_sd:.3f} on {cfg.corpus} at L = {cfg.seq_len}",
            claims.compare(average, average_sd, paper_nll, TABLE_F1_MARGIN) if comparable else claims.UNRESOLVED,
            f"equivalence within {TABLE_F1_MARGIN:.3f} nats, 2 sd: half the table's gap between GPT2-125m and -355m, "
            "the smallest step between two of its models; another corpus, length or tokenizer is not comparable "
            "(not resolved)", why_budget))
    return rows
