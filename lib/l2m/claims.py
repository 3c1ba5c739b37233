"""The claims table that ends every chapter: what the paper says, what this build measured, and a verdict.

A measured number is a draw: a claim about it is a statistical test, and a test has three outcomes, not two.

- ``"holds"``: the whole 2-sd interval of the measurement lies where the claim says (within ``margin`` of the
  paper's number, or above / below a bound);
- ``"does not hold"``: the whole interval lies where the claim says it should not;
- ``"not resolved"``: the interval straddles the boundary: at this preset's noise the claim can be neither
  confirmed nor refuted. A more precise measurement (more windows, documents, seeds) may resolve it.

:func:`compare` is an equivalence test (two one-sided tests at 2 sd) against a reference with a margin;
:func:`exceeds` and :func:`falls_below` are its one-sided counterparts for ordering claims ("larger than");
:func:`exact` is for numbers computed exactly (no sampling noise), where a claim is decided outright.
:func:`stability` asks whether a verdict survives a new draw of the windows or runs: a verdict that does not
come out the same in at least 90 % of bootstrap redraws is "not resolved", whatever one draw said.

Each row is computed by the chapter from the numbers it measured, never typed: the claim in the paper's words,
the paper's number (from :mod:`l2m.paper`), the number measured here, the test with its margin and the reason
for that margin (stated in the paper's terms, e.g. the spread the paper itself reports, never tuned to turn a
row green), the verdict, and why the measurement may differ from the paper. A claim that does not hold is shown
as not holding; the page does not fail for it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable

import pandas as pd

HOLDS, FAILS, UNRESOLVED = "holds", "does not hold", "not resolved"
VERDICTS = (HOLDS, FAILS, UNRESOLVED)
STABLE = 0.9  # a verdict must come out the same in this share of redraws to count as decided
COLUMNS = ("claim", "paper", "measured here", "test (margin: why)", "verdict", "why it may differ")


def _interval(measured: float, sd: float) -> tuple[float, float]:
    sd = 0.0 if sd is None else float(sd)
    if sd < 0:
        raise ValueError(f"a standard deviation cannot be negative: {sd}")
    return float(measured) - 2 * sd, float(measured) + 2 * sd


def compare(measured: float, sd: float, reference: float, margin: float) -> str:
    """Equivalence of ``measured`` (with standard deviation ``sd``) to ``reference`` within ``margin``.

    "holds" when the whole interval measured ± 2 sd lies within reference ± margin; "does not hold" when
    the whole interval lies outside it (entirely above or entirely below); "not resolved" otherwise, and
    whenever a number is NaN.
    """
    lo, hi = _interval(measured, sd)
    if margin < 0:
        raise ValueError(f"a margin cannot be negative: {margin}")
    if not all(map(math.isfinite, (lo, hi, reference, margin))):
        return UNRESOLVED
    if reference - margin <= lo and hi <= reference + margin:
        return HOLDS
    if hi < reference - margin or lo > reference + margin:
        return FAILS
    return UNRESOLVED


def exceeds(measured: float, sd: float, bound: float, margin: float = 0.0) -> str:
    """The ordering claim "measured > bound + margin": "holds" when the whole 2-sd interval lies above
    bound + margin, "does not hold" when it lies wholly at or below it, "not resolved" otherwise (and for NaN).

    ``margin`` is the smallest excess the claim asserts (0 for a plain "larger than")."""
    lo, hi = _interval(measured, sd)
    threshold = bound + margin
    if not all(map(math.isfinite, (lo, hi, threshold))):
        return UNRESOLVED
    if lo > threshold:
        return HOLDS
    if hi <= threshold:
        return FAILS
    return UNRESOLVED


def falls_below(measured: float, sd: float, bound: float, margin: float = 0.0) -> str:
    """The ordering claim "measured < bound − margin", the mirror image of :func:`exceeds`."""
    return exceeds(-measured, sd, -bound, margin)


def exact(condition: bool) -> str:
    """The verdict of a claim about numbers computed exactly (closed forms, exact Gaussian values): there is
    no sampling noise, so it is decided outright."""
    return HOLDS if bool(condition) else FAILS


def stability(verdict: str, redraws: Iterable[str], share: float = STABLE) -> tuple[str, float]:
    """(the verdict to report, the share of redraws that gave ``verdict``).

    ``redraws`` are the verdicts of the same test on bootstrap redraws of the windows, documents or runs the
    measurement rests on. A decided verdict that fewer than ``share`` of them reproduce is "not resolved":
    one draw's 2-sd interval describes that draw, not the next one.
    """
    if verdict not in VERDICTS:
        raise ValueError(f"unknown verdict {verdict!r}; one of {VERDICTS}")
    redraws = list(redraws)
    if not redraws:
        raise ValueError("stability needs at least one redraw")
    agree = sum(r == verdict for r in redraws) / len(redraws)
    return (verdict if verdict == UNRESOLVED or agree >= share else UNRESOLVED), agree


@dataclass(frozen=True)
class Claim:
    """One row of a chapter's claims table."""

    claim: str  # in the paper's words
    paper: str  # the paper's number, formatted ("—" where the paper gives none)
    measured: str  # the number this build measured, formatted
    verdict: str  # one of VERDICTS, from compare / exceeds / falls_below / exact / stability
    test: str  # the test and its margin, with the reason for the margin in the paper's terms
    why: str  # why the measurement may differ from the paper (preset, model, corpus, estimator)
    stable: float | None = None  # share of bootstrap redraws giving the same verdict, where the claim was redrawn

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise TypeError(f"verdict must be one of {VERDICTS}, computed by a test, not {self.verdict!r} "
                            f"({self.claim!r})")

    @property
    def holds(self) -> bool:
        return self.verdict == HOLDS


def table(claims: list[Claim], preset: str | None = None) -> pd.DataFrame:
    """The claims as a table with the columns of :data:`COLUMNS`; the verdict column names the preset, and a
    redrawn claim's verdict says how often it came out the same."""
    verdict_column = f"verdict at {preset}" if preset else "verdict"
    columns = [verdict_column if c == "verdict" else c for c in COLUMNS]
    rows = [(c.claim, c.paper, c.measured, c.test,
             c.verdict if c.stable is None else f"{c.verdict} (same in {c.stable:.0%} of redraws)", c.why)
            for c in claims]
    return pd.DataFrame(rows, columns=columns)


def counts(claims: list[Claim]) -> dict[str, int]:
    """How many claims have each verdict."""
    return {v: sum(c.verdict == v for c in claims) for v in VERDICTS}


def summary(claims: list[Claim]) -> str:
    """"k hold, m do not hold, n not resolved (of N)", for the chapter's text."""
    n = counts(claims)
    return (f"{n[HOLDS]} {'holds' if n[HOLDS] == 1 else 'hold'}, {n[FAILS]} "
            f"{'does' if n[FAILS] == 1 else 'do'} not hold, {n[UNRESOLVED]} not resolved (of {len(claims)})")
