"""Scaling-law fits recover known parameters."""
import numpy as np
import pytest

from l2m.fit import fit_log_law, fit_power_law


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
