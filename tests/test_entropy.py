"""Grassberger's entropy against its known values and recurrence, and the plug-in bias."""
import math

import numpy as np
import pytest
import scipy.special

from l2m import entropy


def g_by_recurrence(n: int) -> float:
    """G(1) = −γ − ln 2, G(2m+1) = G(2m) = ψ(m + ½) + ln 2 (paper Appx. B, eqs. B.5–B.6)."""
    if n == 1:
        return -entropy.EULER_GAMMA - math.log(2)
    m = n // 2
    return float(scipy.special.digamma(m + 0.5)) + math.log(2)


def test_g_known_values_and_recurrence():
    assert entropy.grassberger_g(1) == pytest.approx(-1.2703628454614782, abs=1e-14)
    assert entropy.grassberger_g(2) == pytest.approx(0.7296371545385218, abs=1e-14)
    assert entropy.grassberger_g(3) == pytest.approx(0.7296371545385218, abs=1e-14)
    n = np.arange(1, 2000)
    assert np.allclose(entropy.grassberger_g(n), [g_by_recurrence(int(k)) for k in n], rtol=0, atol=1e-12)
    assert abs(entropy.grassberger_g(10**6) - math.log(10**6)) < 1e-6  # G(n) → ln n
    with pytest.raises(ValueError):
        entropy.grassberger_g(0)


def test_entropy_of_a_small_table_by_hand():
    counts = np.array([1, 2, 3, 0])
    n = 6
    by_hand = math.log(n) - (1 * g_by_recurrence(1) + 2 * g_by_recurrence(2) + 3 * g_by_recurrence(3)) / n
    h, stderr = entropy.grassberger_entropy(counts)
    assert h == pytest.approx(by_hand, rel=1e-13)
    dev = np.array([math.log(n) - g_by_recurrence(k) for k in (1, 2, 3)])
    p = np.array([1, 2, 3]) / n
    assert stderr == pytest.approx(math.sqrt((p @ dev**2 - by_hand**2) / n), rel=1e-12)
    plugin = -sum(k / n * math.log(k / n) for k in (1, 2, 3))
    assert entropy.plugin_entropy(counts) == pytest.approx(plugin, rel=1e-13)


def test_grassberger_is_less_biased_than_plugin():
    """Uniform over 1000 symbols, 500 samples: plug-in is far too low, Grassberger much closer."""
    rng = np.random.default_rng(0)
    truth = math.log(1000)
    plugin, grass = [], []
    for _ in range(50):
        counts = np.bincount(rng.integers(0, 1000, 500), minlength=1000)
        plugin.append(entropy.plugin_entropy(counts))
        grass.append(entropy.grassberger_entropy(counts)[0])
    assert truth - np.mean(plugin) > 0.4
    assert abs(truth - np.mean(grass)) < 0.5 * (truth - np.mean(plugin))


def test_histogram_form_equals_counts_form():
    counts = np.random.default_rng(1).poisson(3, size=500)
    values, mult = entropy.count_histogram(counts)
    assert values @ mult == counts.sum()
    assert entropy.grassberger_entropy_from_histogram(values, mult) == entropy.grassberger_entropy(counts)


def test_mutual_information_of_identical_and_independent_variables():
    rng = np.random.default_rng(2)
    x = rng.integers(0, 4, 200_000)
    assert entropy.mutual_information(x, x) == pytest.approx(math.log(4), abs=2e-3)
    assert abs(entropy.mutual_information(x, rng.integers(0, 4, 200_000))) < 1e-3
    blocks = np.repeat(x[:, None], 3, axis=1)  # blocks (rows) made of one repeated symbol
    assert entropy.mutual_information(blocks[:, :1], blocks[:, 1:]) == pytest.approx(math.log(4), abs=2e-3)
