"""Has a run finished learning? The book's convergence criterion, measured on every run.

A run that has not finished learning says nothing about its history state: its shortfall may be the
budget's. The paper trains 500k steps and does not test convergence (Appx. F); the book's CPU runs
are short, so every run measures it.

**The criterion.** A run of N steps has converged when doubling its budget no longer pays: the run of
N/2 steps, evaluated on the same held-out sequences, has an average loss at most ``RELATIVE`` (10 %)
of the full run's above it, plus an absolute allowance of ``ABSOLUTE`` (1 %) of what learning nothing
costs (the marginal's KL: a run already within that of the exact conditional is at the floor, where
relative changes are noise). On a learning curve KL(N) = KL∞ + a·N^−γ, a last doubling that lowered
the loss by δ leaves δ/(2^γ − 1) to gain by training for ever: at most δ for γ ≥ 1 and 2.4 δ for
γ = 0.5, i.e. a converged run is within about 10–25 % of its own asymptote.

**Why it costs 10 %, not 50 %.** Runs use a warmup–stable–decay schedule (linear warm-up, constant
learning rate, linear decay over the last ``DECAY_FRACTION`` of the steps; Hägele et al. 2024 show it
matches the cosine schedule at the same budget). The run of N/2 steps then *is* the full run up to
step 0.4 N (same learning rate, same batches), followed by its own decay of 0.1 N steps: the full run
keeps a copy of itself at 0.4 N and trains that branch's decay at the end. The half run is exactly the
run a reader would train with ``steps = N/2`` (a test checks it).

**The verdict** is three-way, as the book's claims: the drop δ = loss(N/2) − loss(N) with the paired
standard error over the evaluation sequences; "converged" when δ + 2 se ≤ tolerance, "not converged"
when δ − 2 se > tolerance, else "not resolved". A doubling cannot tell a finished run from one stuck on the
plateau where it has learned almost nothing (both stop improving): a Gaussian run whose KL is above
``PLATEAU`` (half) of the marginal's, the KL of predicting N(0, 1), is "not resolved" where the doubling alone
would call it converged.

**What it cannot see.** A run on a plateau that a longer run or a better start would leave also stops improving when
its budget doubles. Measured: one Mamba at L = 256 passed at 8,000 steps from random weights with a KL of 0.071, and
passed at 4,000 steps started from its L = 64 run with 0.049. "Converged" says a run has stopped improving from its
start at its budget, not that its architecture can do no better; chapter 05 starts each length from the previous one
(``init_from``) and says so beside its claims.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

DECAY_FRACTION = 0.2  # the schedule's linear decay: the last 20 % of the steps (Hägele et al. 2024)
RELATIVE = 0.10  # doubling the budget may lower the loss by at most 10 % of it ...
ABSOLUTE = 0.01  # ... plus 1 % of the marginal's KL (nats per channel and token), the floor's noise
PLATEAU = 0.5  # a KL above half the marginal's: maybe stuck where it learned little; a doubling cannot tell
RELATIVE_TEXT = 0.01  # text: the NLL's floor (the corpus entropy) is unknown; 1 % of the NLL
CONVERGED, NOT_CONVERGED, NOT_RESOLVED = "converged", "not converged", "not resolved"
VERDICTS = (CONVERGED, NOT_CONVERGED, NOT_RESOLVED)


def decay_steps(steps: int) -> int:
    """Steps of the schedule's final linear decay (at least one)."""
    return max(1, round(DECAY_FRACTION * steps))


def half_steps(steps: int) -> int:
    """The budget the criterion compares with: half the run's steps."""
    return steps // 2


def branch_step(steps: int) -> int:
    """The step at which the half-budget run leaves the full one: the start of its own decay."""
    half = half_steps(steps)
    return half - decay_steps(half)


def can_check(steps: int, warmup: int) -> bool:
    """Whether the half-budget run is a branch of this one: its decay must start after the warm-up."""
    return half_steps(steps) >= 2 and branch_step(steps) >= warmup


@dataclass(frozen=True)
class Convergence:
    """The criterion's numbers for one run, as stored in its ``metrics.json``."""

    steps: int  # the run's budget N
    half_steps: int  # N/2
    average: float  # the run's average loss on the evaluation set
    half_average: float  # the half-budget run's, on the same sequences
    drop: float  # half_average − average
    drop_se: float  # paired standard error of the drop over the evaluation sequences
    tolerance: float  # the drop a converged run may still show
    verdict: str

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def converged(self) -> bool:
        return self.verdict == CONVERGED


def tolerance(average: float, metric: str, marginal: float = 0.0) -> float:
    """The drop a doubling may still show for a converged run (see the module docstring)."""
    if metric == "nll":
        return RELATIVE_TEXT * average
    return RELATIVE * average + ABSOLUTE * marginal


def verdict(drop: float, drop_se: float, allowed: float) -> str:
    """Three-way verdict on the drop against the tolerance, with a 2-standard-error band."""
    if not (math.isfinite(drop) and math.isfinite(drop_se)):
        return NOT_RESOLVED
    if drop + 2 * drop_se <= allowed:
        return CONVERGED
    if drop - 2 * drop_se > allowed:
        return NOT_CONVERGED
    return NOT_RESOLVED


def judge(full: np.ndarray, half: np.ndarray, steps: int, metric: str, marginal: float = 0.0) -> Convergence:
    """The criterion from the per-sequence average losses of the full and the half run, (n,) each, paired."""
    full, half = np.asarray(full, dtype=float), np.asarray(half, dtype=float)
    diff = half - full
    drop = float(diff.mean())
    drop_se = float(diff.std(ddof=1) / math.sqrt(len(diff))) if len(diff) > 1 else math.inf
    allowed = tolerance(float(full.mean()), metric, marginal)
    plateau = metric == "kl" and marginal > 0 and float(full.mean()) > PLATEAU * marginal
    said = verdict(drop, drop_se, allowed)
    return Convergence(steps=steps, half_steps=half_steps(steps), average=float(full.mean()),
                       half_average=float(half.mean()), drop=drop, drop_se=drop_se, tolerance=allowed,
                       verdict=NOT_RESOLVED if plateau and said == CONVERGED else said)

