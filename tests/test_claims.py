"""l2m.claims: three verdicts from an equivalence test, its one-sided counterparts, and verdict stability."""
import math

import numpy as np
import pytest

from l2m import claims
from l2m.claims import FAILS, HOLDS, UNRESOLVED


@pytest.mark.parametrize("measured, sd, expected", [
    (0.94, 0.01, HOLDS),  # 0.92–0.96 inside 0.79–1.09
    (1.04, 0.02, HOLDS),  # 1.00–1.08: inside, near the edge
    (1.22, 0.10, UNRESOLVED),  # 1.02–1.42 straddles 1.09 (chapter 02's old Wikipedia row)
    (1.227, 0.042, FAILS),  # 1.143–1.311 wholly above 1.09
    (0.50, 0.10, FAILS),  # 0.30–0.70 wholly below 0.79
    (0.94, 0.20, UNRESOLVED),  # wider than the margin: cannot be decided either way
    (math.nan, 0.01, UNRESOLVED),
])
def test_compare_is_an_equivalence_test_at_two_sd(measured, sd, expected):
    assert claims.compare(measured, sd, 0.94, 0.15) == expected


def test_a_more_precise_measurement_of_the_same_value_can_only_sharpen_the_verdict():
    """The old rule (|m − ref| < 2 sd + tol) accepted an imprecise value and rejected the same value measured
    precisely; an equivalence test never turns "holds" into "does not hold" by shrinking sd."""
    for m in np.linspace(0.5, 1.5, 41):
        verdicts = [claims.compare(m, sd, 0.94, 0.15) for sd in (0.3, 0.1, 0.03, 0.0)]
        decided = [v for v in verdicts if v != UNRESOLVED]
        assert len(set(decided)) <= 1, (m, verdicts)
        assert verdicts[-1] != UNRESOLVED or math.isclose(abs(m - 0.94), 0.15)


def test_ordering_claims_have_three_outcomes():
    assert claims.exceeds(0.62, 0.06, 0.43) == HOLDS  # 0.50–0.74 above 0.43
    assert claims.exceeds(0.41, 0.06, 0.48) == UNRESOLVED  # 0.29–0.53 straddles
    assert claims.exceeds(0.30, 0.05, 0.48) == FAILS
    assert claims.exceeds(0.62, 0.01, 0.43, margin=0.25) == FAILS  # larger, but not by the asserted 0.25
    assert claims.falls_below(0.30, 0.05, 0.48) == HOLDS
    assert claims.falls_below(0.60, 0.05, 0.48) == FAILS
    assert claims.exceeds(1.0, 0.0, 1.0) == FAILS  # exact and equal: not larger
    with pytest.raises(ValueError):
        claims.exceeds(1.0, -0.1, 0.0)


def test_a_verdict_that_a_redraw_does_not_reproduce_is_not_resolved():
    assert claims.stability(HOLDS, [HOLDS] * 95 + [UNRESOLVED] * 5) == (HOLDS, 0.95)
    verdict, share = claims.stability(HOLDS, [HOLDS] * 80 + [FAILS] * 20)
    assert verdict == UNRESOLVED and share == 0.8
    assert claims.stability(FAILS, [FAILS] * 9 + [HOLDS]) == (FAILS, 0.9)  # exactly 90 %: decided
    assert claims.stability(UNRESOLVED, [HOLDS] * 10) == (UNRESOLVED, 0.0)


def test_rows_need_a_computed_verdict_and_the_summary_counts_all_three():
    with pytest.raises(TypeError):
        claims.Claim("c", "—", "1", True, "t", "w")
    rows = [claims.Claim("a", "—", "1", claims.exact(True), "exact", "—"),
            claims.Claim("b", "—", "1", claims.compare(1.0, 0.1, 2.0, 0.1), "t", "—"),
            claims.Claim("c", "—", "1", UNRESOLVED, "t", "—", stable=0.7)]
    assert claims.summary(rows) == "1 holds, 1 does not hold, 1 not resolved (of 3)"
    t = claims.table(rows, preset="quick")
    assert list(t.columns)[4] == "verdict at quick"
    assert t.iloc[2, 4] == "not resolved (same in 70% of redraws)"
