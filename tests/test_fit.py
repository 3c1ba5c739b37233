"""Scaling-law fits recover known parameters."""
import numpy as np
import pytest

from l2m.fit import fit_log_law, fit_power_law, fit_power_law_weighted


def test_power_law_exact_and_noisy():
    x = 4.0 ** np.arange(1, 8)
    exact = fit_power_law(x, 2.27 * x**0.76)
    assert exact.amplitude == pytest.approx(2.27, rel=1e-12) and exact.exponent == pytest.approx(0.76, rel=1e-12)
    assert exact.r_squared == pytest.approx(1.0)
    rng = np.random.default_rng(0)
    x = np.geomspace(2, 2048, 40)
    noisy = fit_power_law(x, 3.26 * x**0.71 * np.exp(rng.normal(0, 0.02, x.size)))
    assert abs(noisy.exponent - 0.71) < 3 * noisy.exponent_stderr + 1e-3
    assert noisy.amplitude == pytest.approx(3.26, rel=0.05)
    assert np.allclose(noisy(x), noisy.amplitude * x**noisy.exponent)


def test_log_law():
    x = 4.0 ** np.arange(1, 7)
    result = fit_log_law(x, 0.27 + 0.0176 * np.log(x))
    assert result.offset == pytest.approx(0.27) and result.slope == pytest.approx(0.0176)


def test_fit_rejects_bad_input():
    with pytest.raises(ValueError, match="positive"):
        fit_power_law(np.array([1.0, 2.0]), np.array([1.0, -1.0]))
    with pytest.raises(ValueError, match="at least 2"):
        fit_power_law(np.array([1.0]), np.array([1.0]))


def test_weighted_fit_of_a_noisy_difference_is_not_biased_like_the_positive_points():
    # an exact decay A·d^−α plus noise of a fixed size: past d ≈ 100 noise is as large as the signal,
    # the log–log fit of the positive points keeps the ones it pushed up and is biased shallow
    d = 2.0 ** np.arange(13)
    truth, sigma = 1.1 * d**-0.91, np.full(d.size, 5e-3)
    rng = np.random.default_rng(0)
    positive_only, weighted = [], []
    for _ in range(200):
        y = truth + rng.normal(0, sigma)
        positive_only.append(-fit_power_law(d[y > 0], y[y > 0]).exponent)
        weighted.append(-fit_power_law_weighted(d, y, sigma).exponent)
    positive_only, weighted = np.array(positive_only), np.array(weighted)
    assert np.mean(positive_only) < 0.91 - 0.05  # the old way: biased shallow (here by about 0.09)
    assert abs(np.mean(weighted) - 0.91) < 0.02  # all points, weighted: unbiased within tolerance
    assert np.std(weighted) < np.std(positive_only)


def test_weighted_fit_exact_and_its_error():
    d = 2.0 ** np.arange(13)
    exact = fit_power_law_weighted(d, 1.87 * d**-0.94, np.full(d.size, 1e-3))
    assert exact.amplitude == pytest.approx(1.87, rel=1e-6) and exact.exponent == pytest.approx(-0.94, rel=1e-6)
    assert exact.r_squared == pytest.approx(1.0)
    rng = np.random.default_rng(1)
    sigma = 0.02 * 1.87 * d**-0.94  # 2 % errors: the stated standard error covers the truth
    misses = 0
    for _ in range(100):
        fit = fit_power_law_weighted(d, 1.87 * d**-0.94 + rng.normal(0, sigma), sigma)
        misses += abs(fit.exponent + 0.94) > 2 * fit.exponent_stderr
    assert misses < 12  # ~5 % expected outside 2 standard errors
    with pytest.raises(ValueError, match="sigma"):
        fit_power_law_weighted(d, d**-1.0, np.zeros(d.size))
