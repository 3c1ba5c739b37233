"""l2m.collapse: the test finds a collapse where one curve of the ratio made the points, and none where each
length has its own curve; the inverted curve gives back the ratio that made a KL."""
import numpy as np
import pytest

from l2m import claims, collapse


def synthetic(per_length_shift=0.0, noise=0.05, seed=0):
    """Runs at L = 16, 64, 256 with five states each; ln KL = curve(ln ratio) (+ a shift per length) + noise."""
    rng = np.random.default_rng(seed)
    lengths = np.repeat([16, 64, 256], 5)
    mi = {16: 1.8, 64: 5.5, 256: 16.4}  # I_BP·C of the power family with 2 channels (chapter 03)
    state = np.tile([16, 32, 64, 160, 448], 3)
    ratio = np.array([mi[L] for L in lengths]) / state
    u = np.log(ratio)
    log_kl = -2.5 + 0.6 * u + 0.05 * u**2 + per_length_shift * np.log2(lengths / 16) + rng.normal(0, noise, len(u))
    return ratio, np.exp(log_kl), lengths, state


def test_points_made_by_one_curve_collapse():
    result = collapse.fit(*synthetic())
    assert collapse.verdict(result) == claims.HOLDS
    assert result.monotone and result.p_value > 0.05 and result.rss_single < result.rss_state_only
    assert result.spread_single == pytest.approx(0.05, rel=0.5)  # the noise that made them


def test_points_with_a_curve_per_length_do_not_collapse():
    result = collapse.fit(*synthetic(per_length_shift=0.4))
    assert collapse.verdict(result) == claims.FAILS and result.p_value < 0.01
    assert collapse.collapse_claim(result).verdict == claims.FAILS


def test_the_inverted_curve_gives_back_the_ratio():
    ratio, kl, lengths, state = synthetic(noise=1e-6)
    result = collapse.fit(ratio, kl, lengths, state)
    target = float(np.exp(-2.5 + 0.6 * np.log(0.1) + 0.05 * np.log(0.1) ** 2))
    assert result.ratio_for(target) == pytest.approx(0.1, rel=0.01)
    low, needed, high = collapse.state_needed(result, target, (980.0, 1000.0, 1020.0))
    assert needed == pytest.approx(10_000, rel=0.01) and low < needed < high
    assert np.isnan(result.ratio_for(1e-9))  # below the measured range: not extrapolated


def test_a_power_law_is_carried_from_its_last_point():
    from l2m.fit import PowerLawFit
    law = PowerLawFit(amplitude=2.0, exponent=0.75, exponent_stderr=0.01, r_squared=0.99)
    low, centre, high = collapse.extrapolated_mi(law, 1e6, 2048)
    assert centre == pytest.approx(2.0 * 1e6**0.75) and low < centre < high
    assert high == pytest.approx(2.0 * 2048**0.75 * (1e6 / 2048) ** 0.77)


def test_too_few_runs_per_length_is_an_error():
    ratio, kl, lengths, state = synthetic()
    with pytest.raises(ValueError, match="lengths"):
        collapse.fit(ratio[:6], kl[:6], lengths[:6], state[:6])
    assert collapse.collapse_claim(None, runs=6).verdict == claims.UNRESOLVED


def test_the_reading_says_why_when_there_is_no_test():
    assert "not resolved" in collapse.reading(None, 5, 17) and "5 of the 17" in collapse.reading(None, 5, 17)
    assert "F-test p = " in collapse.reading(collapse.fit(*synthetic()), 15, 15)


def test_a_length_with_too_few_converged_runs_is_left_out_of_the_test():
    import pandas as pd
    ratio, kl, lengths, state = synthetic(per_length_shift=0.4)
    points = pd.DataFrame({"ratio": ratio, "average_kl": kl, "L": lengths, "state": state,
                           "converged": ~((lengths == 64) & (state > 32))})  # two converged runs at L = 64
    result = collapse.fit_converged(points)
    assert result.seq_lens == (16, 256) and result.n == 10
    expected = collapse.fit(ratio[lengths != 64], kl[lengths != 64], lengths[lengths != 64], state[lengths != 64])
    assert result.p_value == expected.p_value and collapse.verdict(result) == claims.FAILS
    assert "L = 16, 256" in collapse.reading(result, 12, 15)
    points["converged"] = lengths == 16  # one length only: no test
    assert collapse.fit_converged(points) is None


def test_the_extrapolation_is_read_as_far_as_the_collapse_allows():
    assert collapse.extrapolation_status(None, 1.0).startswith("not computed")
    assert collapse.extrapolation_status(collapse.fit(*synthetic()), np.nan).startswith("not computed")
    assert "collapse onto" in collapse.extrapolation_status(collapse.fit(*synthetic()), 27_000.0)
    split = collapse.extrapolation_status(collapse.fit(*synthetic(per_length_shift=0.4)), 27_000.0)
    assert "rejects" in split and "not an estimate" in split
