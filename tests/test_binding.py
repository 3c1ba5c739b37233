"""l2m.binding: the state scan's exact references, the series over L, and the claims read off them."""
import numpy as np
import pandas as pd
import pytest

from l2m import binding, captured, condition, gaussian, references


def test_bound_curve_is_the_linear_state_bound_and_the_shift_register_is_the_window_predictor():
    curve = binding.bound_curve(64, 3, "power", channels=2, max_numbers=200)
    cov = condition.covariance(3, "power", 64)
    exact = gaussian.bipartite_mi(cov, 32)
    for n, bound, reach in curve[["state", "bound_fraction", "reachable_fraction"]].itertuples(index=False):
        assert bound == pytest.approx(references.linear_state_bound(cov, 32, int(n), 2) / (2 * exact))
        window = captured.expected_captured_mi(cov, 32, references.window_kl(cov, min(int(n) // 2, 63))) / exact
        assert reach == pytest.approx(window)
        assert reach <= bound + 1e-9  # what a shift register reaches, a linear state of that size may carry
    assert curve["bound_fraction"].iloc[-1] == pytest.approx(1.0)  # 100 numbers per channel: every pair
    assert np.all(np.diff(curve["bound_fraction"]) >= -1e-12)


def test_tokens_a_state_can_hold():
    assert binding.shift_register_tokens(13, 2, position_embedding=True) == 6  # 12 numbers for 2 channels
    assert binding.shift_register_tokens(13, 2, position_embedding=False) == 6
    assert binding.shift_register_tokens(1, 2, position_embedding=True) == 0
    assert binding.attention_tokens({"n_layer": 1, "window": 4}) == 4  # itself and the 3 before it
    assert binding.attention_tokens({"n_layer": 2, "window": 5}) == 9


def _series(rows):
    return pd.DataFrame(rows, columns=["series", "L", "label", "state", "fraction", "fraction_se", "well_trained"])


def test_keeps_fraction_reads_only_well_trained_lengths_above_the_shortest():
    rows = [(name, L, name, 1, f, 0.02, ok) for name, L, f, ok in [
        (binding.FIXED, 16, 0.9, True), (binding.FIXED, 64, 0.5, True), (binding.FIXED, 256, 0.1, False),
        (binding.GROWN, 16, 0.9, True), (binding.GROWN, 64, 0.8, True), (binding.GROWN, 256, 0.2, False)]]
    kept = binding.keeps_fraction(_series(rows), binding.FIXED, binding.GROWN)
    assert (kept["L"], kept["fixed"], kept["grown"], kept["holds"]) == (64, 0.5, 0.8, True)
    close = [r if r[1] != 64 else (r[0], 64, r[2], 1, 0.52 if r[0] == binding.GROWN else 0.5, 0.02, True) for r in rows]
    assert not binding.keeps_fraction(_series(close), binding.FIXED, binding.GROWN)["holds"]  # within 2 s.e.
    untrained = [r[:6] + (r[1] == 16,) for r in rows]
    assert binding.keeps_fraction(_series(untrained), binding.FIXED, binding.GROWN) == {"L": 0, "holds": False}


def test_rises_with_state_needs_a_positive_rank_correlation_and_a_gap_of_two_standard_errors():
    scan = pd.DataFrame({"arch": ["mamba"] * 4, "state": [10, 20, 40, 80], "captured": [-1.0, -0.5, 0.1, 0.9],
                         "stderr": [0.1] * 4})
    rho, rises = binding.rises_with_state(scan)
    assert rho == pytest.approx(1.0) and rises
    flat = scan.assign(captured=[0.0, 0.05, -0.05, 0.1])
    assert not binding.rises_with_state(flat)[1]
    assert not binding.rises_with_state(scan.iloc[:2])[1]  # two points decide nothing


def test_claims_hold_only_where_the_numbers_say_so():
    scan = pd.DataFrame({"arch": ["mamba", "mamba", "gpt2"], "state": [13, 49, 16384], "captured": [0.5, 2.0, 2.6],
                         "stderr": [0.1, 0.1, 0.1], "fraction": [0.2, 0.75, 0.95], "bound_fraction": [0.7, 1.0, 1.0],
                         "below_bound": [True, True, True]})
    table = binding.chapter_claims(scan, _series([]), 64, 0.77, np.array([1.0, 0.7, 0.25]))
    holds = {c.claim.split(":")[0][:30]: c.holds for c in table}
    assert [c.holds for c in table] == [True, False, True, False, True, True], holds  # two SSM runs: no rank test
    over = scan.assign(below_bound=[False, True, True])
    assert not binding.chapter_claims(over, _series([]), 64, 0.77, np.array([1.0, 0.7]))[0].holds
