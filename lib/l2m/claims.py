"""The claims table that ends every chapter: what the paper says, what this build measured, and whether it holds.

Each row is computed by the chapter from the numbers it measured: the claim in the paper's words, the
paper's number (from :mod:`l2m.paper`), the number measured here, whether the claim holds at the preset
the reader built (a boolean computed by a test the chapter states, never typed), and why the two may
differ. A claim that does not hold is shown as not holding; the page does not fail for it. A claim
whose measurement raises stops the chapter, as any other error does.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

COLUMNS = ("claim", "paper", "measured here", "holds at this preset?", "why it may differ")


@dataclass(frozen=True)
class Claim:
    """One row of a chapter's claims table."""

    claim: str  # in the paper's words
    paper: str  # the paper's number, formatted ("—" where the paper gives none)
    measured: str  # the number this build measured, formatted
    holds: bool  # the chapter's own test on the measured numbers
    why: str  # why the measurement may differ from the paper (preset, model, corpus, estimator)

    def __post_init__(self) -> None:
        if not isinstance(self.holds, (bool, np.bool_)):
            raise TypeError(f"holds must be a computed boolean, not {self.holds!r} ({self.claim!r})")


def verdict(holds: bool) -> str:
    return "yes" if holds else "no"


def table(claims: list[Claim]) -> pd.DataFrame:
    """The claims as a table with the five columns of :data:`COLUMNS` (holds as "yes" / "no")."""
    rows = [(c.claim, c.paper, c.measured, verdict(bool(c.holds)), c.why) for c in claims]
    return pd.DataFrame(rows, columns=list(COLUMNS))


def summary(claims: list[Claim]) -> str:
    """"k of n claims hold at this preset", for the chapter's text."""
    held = sum(bool(c.holds) for c in claims)
    return f"{held} of {len(claims)}"
