"""l2m.binding: the state scan's exact references, the series over L, and the claims read off them."""
import numpy as np
import pandas as pd
import pytest

from l2m import binding, captured, claims, condition, gaussian, references


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


def _series(rows, converged=True):
    table = pd.DataFrame(rows, columns=["series", "L", "label", "state", "fraction", "fraction_se", "well_trained"])
    return table.assign(converged=converged)


def test_keeps_fraction_reads_only_well_trained_lengths_above_the_shortest():
    rows = [(name, L, name, 1, f, 0.02, ok) for name, L, f, ok in [
        (binding.FIXED, 16, 0.9, True), (binding.FIXED, 64, 0.5, True), (binding.FIXED, 256, 0.1, False),
        (binding.GROWN, 16, 0.9, True), (binding.GROWN, 64, 0.8, True), (binding.GROWN, 256, 0.2, False)]]
    kept = binding.keeps_fraction(_series(rows), binding.FIXED, binding.GROWN)
    assert (kept["L"], kept["fixed"], kept["grown"], kept["verdict"]) == (64, 0.5, 0.8, claims.HOLDS)
    close = [r if r[1] != 64 else (r[0], 64, r[2], 1, 0.52 if r[0] == binding.GROWN else 0.5, 0.02, True) for r in rows]
    assert binding.keeps_fraction(_series(close), binding.FIXED, binding.GROWN)["verdict"] == claims.UNRESOLVED
    behind = [r if r[1] != 64 else (r[0], 64, r[2], 1, 0.3 if r[0] == binding.GROWN else 0.5, 0.02, True) for r in rows]
    assert binding.keeps_fraction(_series(behind), binding.FIXED, binding.GROWN)["verdict"] == claims.FAILS
    untrained = [r[:6] + (r[1] == 16,) for r in rows]
    assert binding.keeps_fraction(_series(untrained), binding.FIXED, binding.GROWN) == {"L": 0, "verdict": claims.UNRESOLVED}
    # a run that has not finished learning decides nothing, whatever its numbers
    unconverged = _series(rows).assign(converged=lambda t: t["L"] != 64)
    assert binding.keeps_fraction(unconverged, binding.FIXED, binding.GROWN) == {"L": 0, "verdict": claims.UNRESOLVED}


def test_rises_with_state_is_an_ordering_test_at_two_standard_errors():
    scan = pd.DataFrame({"arch": ["mamba"] * 4, "state": [10, 20, 40, 80], "gain": [-1.0, -0.5, 0.1, 0.9],
                         "stderr": [0.1] * 4, "d_model": 16, "converged": True})
    rho, rises = binding.rises_with_state(scan)
    assert rho == pytest.approx(1.0) and rises == claims.HOLDS
    assert binding.rises_with_state(scan.assign(gain=[0.0, 0.05, -0.05, 0.1]))[1] == claims.UNRESOLVED  # within 2 s.e.
    assert binding.rises_with_state(scan.assign(gain=[0.9, 0.1, -0.5, -1.0]))[1] == claims.FAILS  # a falling scan
    assert binding.rises_with_state(scan.iloc[:2])[1] == claims.UNRESOLVED  # two points decide nothing
    # only converged runs of one width count: another width's run, or an unconverged one, is left out
    mixed = scan.assign(d_model=[8, 16, 16, 16], converged=[True, True, True, False])
    assert binding.fixed_width(mixed)["state"].tolist() == [20, 40]
    assert binding.rises_with_state(mixed)[1] == claims.UNRESOLVED


def test_all_of_needs_every_case():
    assert binding.all_of([claims.HOLDS, claims.HOLDS]) == claims.HOLDS
    assert binding.all_of([claims.HOLDS, claims.UNRESOLVED]) == claims.UNRESOLVED
    assert binding.all_of([claims.HOLDS, claims.FAILS, claims.UNRESOLVED]) == claims.FAILS
    assert binding.all_of([]) == claims.UNRESOLVED


def _scan(fraction, bound_fraction, se=0.02):
    """A scan at L = 64 with I_BP = 1 per channel: SSM runs at the given gain fractions and linear bounds, and GPT2."""
    rows = [{"arch": "mamba", "state": 10 * (i + 1), "gain": f, "stderr": se, "fraction": f, "fraction_se": se,
             "bound_fraction": b, "tests_bound": b <= 1 - binding.BOUND_GAP,
             "bound_verdict": claims.falls_below(f, se, b), "d_model": 16, "converged": True}
            for i, (f, b) in enumerate(zip(fraction, bound_fraction))]
    rows.append({"arch": "gpt2", "state": 16384, "gain": 0.97, "stderr": se, "fraction": 0.97, "fraction_se": se,
                 "bound_fraction": 1.0, "tests_bound": False, "bound_verdict": claims.HOLDS, "d_model": 64,
                 "converged": True})
    return pd.DataFrame(rows)


def test_the_bound_claim_counts_only_runs_whose_bound_leaves_a_clear_share_out():
    # bounds of 0.9995: the test would reduce to gain ≤ I_BP, which cannot fail in expectation: nothing tested
    none = binding.bound_claim(_scan([0.2, 0.5, 0.9], [0.9995, 0.9995, 1.0]), 64)
    assert none.verdict == claims.UNRESOLVED and "none can test" in none.measured
    assert binding.bound_claim(_scan([0.2, 0.5, 0.9], [0.5, 0.9995, 1.0]), 64).verdict == claims.HOLDS
    # a constructed wrong result: a run's gain 0.7 ± 0.02 above its linear bound 0.5
    wrong = binding.bound_claim(_scan([0.7, 0.5, 0.9], [0.5, 0.9995, 1.0]), 64)
    assert wrong.verdict == claims.FAILS and wrong.measured.startswith("1 of 3")
    # the same wrong result from a run that has not converged decides nothing
    assert binding.bound_claim(_scan([0.7, 0.5, 0.9], [0.5, 0.9995, 1.0]).assign(converged=False), 64).verdict == \
        claims.UNRESOLVED


def _lengths(gpt2, se=0.02):
    rows = [("gpt2", L, "gpt2 tiny", 1, f, se, True) for L, f in gpt2]
    return _series(rows).assign(bound_fraction=1.0)


def test_the_transformer_claim_can_fail():
    assert binding.transformer_captures(_lengths([(16, 0.99), (64, 0.97)]))[0] == claims.HOLDS
    verdict, per_L = binding.transformer_captures(_lengths([(16, 0.99), (64, 0.97), (256, -0.45)]))
    assert verdict == claims.FAILS and per_L[-1][-1] == claims.FAILS  # an undertrained length is a failure, not excused
    assert binding.transformer_captures(_lengths([(16, 0.99), (64, 0.91)]))[0] == claims.UNRESOLVED  # 0.91 ± 0.04
    # a failing length whose run has not converged is not resolved, not a failure of the KV cache
    unfinished = _lengths([(16, 0.99), (64, 0.97), (256, -0.45)]).assign(converged=lambda t: t["L"] < 256)
    assert binding.transformer_captures(unfinished)[0] == claims.UNRESOLVED


def test_growth_margin_is_the_integer_rounding_of_the_end_points():
    assert binding.growth_margin([16, 1024], [4, 96]) == pytest.approx((0.125 + 0.5 / 96) / np.log(64))


def test_the_state_growth_claim_is_one_sided():
    growth = binding.state_growth(references.minimal_state_table(5))  # L = 16 … 1024: pairs 4, 11, 32, 96
    assert growth["margin"] == pytest.approx((0.5 / 4 + 0.5 / 96) / np.log(64))

    def verdict(exponent, sd):
        row = binding.chapter_claims(_scan([0.5], [0.5]), _series([]), 64, {"exponent": exponent, "sd": sd, "margin": 0.03},
                                     np.array([0.9, 0.5]))[4]
        assert row.claim.startswith("the state must grow")
        return row.verdict

    assert verdict(0.79, 0.005) == claims.HOLDS
    assert verdict(1.2, 0.005) == claims.HOLDS  # faster than L^β meets "at least like L^β" (a two-sided test failed it)
    assert verdict(0.5, 0.01) == claims.FAILS  # a state that grows too slowly
    assert verdict(0.77, 0.02) == claims.UNRESOLVED


def test_chapter_claims_have_three_way_verdicts():
    rows = binding.chapter_claims(_scan([0.2, 0.6, 0.9], [0.5, 0.9995, 1.0]), _lengths([(16, 0.99), (64, 0.97)]), 64,
                                  {"exponent": 0.78, "sd": 0.005, "margin": 0.03}, np.array([1.0, 0.7, 0.25]))
    assert [r.verdict for r in rows] == [claims.HOLDS, claims.HOLDS, claims.HOLDS, claims.UNRESOLVED, claims.HOLDS,
                                         claims.HOLDS]
    assert all(r.test for r in rows)
    grows = binding.chapter_claims(_scan([0.2, 0.6, 0.9], [0.5, 0.9995, 1.0]), _lengths([]), 64,
                                   {"exponent": 0.77, "sd": 0.005, "margin": 0.03}, np.array([1.0, 1.0]))[-1]
    assert grows.verdict == claims.FAILS  # a share that does not shrink
