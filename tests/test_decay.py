"""The decay models of chapter 02: fits that fit their points, document-level errors, the model the chapter states."""
from __future__ import annotations

import numpy as np
import pytest

from l2m import decay

D = 2.0 ** np.arange(13)  # 1 … 4096, the paper's distances


def floored_curve(seed: int = 0, alpha: float = 0.91, floor: float = 0.048):
    """A·d^−α plus a constant floor (the between-document MI), with Gaussian noise of a known σ per point."""
    sigma = 0.02 * 1.1 * D**-alpha + 0.002  # 2 % of the signal plus a floor of noise, as the bootstrap σ of books
    y = 1.1 * D**-alpha + floor + np.random.default_rng(seed).normal(0, sigma)
    return y, sigma


def test_power_law_plus_constant_recovers_alpha_and_fits_every_point():
    y, sigma = floored_curve()
    fit = decay.fit_decay(D, y, sigma, offset=True)
    # α within 3 of its own least-squares errors (a fixed seed; the error is ~0.01 here)
    assert abs(fit.alpha - 0.91) < 3 * fit.alpha_stderr and fit.alpha_stderr < 0.03
    assert fit.offset == pytest.approx(0.048, abs=3 * 0.002)
    # residuals in σ: within FIT_SIGMA = 3 at every d (a correct model exceeds it somewhere with probability 3.5 %)
    assert np.all(np.abs(fit.residuals) <= decay.FIT_SIGMA) and fit.fits
    assert 0.3 < fit.chi2_per_dof < 2.5  # 10 degrees of freedom: χ²/10 outside this band has probability < 1 %


def test_a_power_law_without_the_constant_misses_the_floor():
    # the referee's finding: A·d^−α alone cannot follow the plateau, and its residuals say so
    y, sigma = floored_curve()
    plain = decay.fit_decay(D, y, sigma, offset=False)
    assert not plain.fits and plain.max_residual > 10


def test_power_law_fit_keeps_points_across_zero():
    truth = 1.1 * D**-0.91
    sigma = np.full(D.size, 2e-3)
    noisy = truth + sigma * np.array([1, -1] * 6 + [1])  # points past d ≈ 500 alternate across zero
    fit = decay.fit_decay(D, noisy, sigma, offset=False)
    assert fit.alpha == pytest.approx(0.91, abs=0.02) and fit.amplitude == pytest.approx(1.1, rel=0.02)
    assert fit.fits and fit.max_residual < 1.2  # each point one σ off by construction, a little absorbed by A and α


def test_too_few_points_give_nan():
    fit = decay.fit_decay(D[:3], np.ones(3), np.ones(3), offset=True)
    assert np.isnan(fit.alpha) and not fit.fits


def measured(replicates: np.ndarray, stderr: float = 1e-3, shuffle_sd: float = 2e-3) -> dict[str, np.ndarray]:
    """A stand-in for twopoint.measure's result, with the given replicates of the raw curve."""
    n = replicates.shape[1]
    zero = np.zeros_like(replicates)
    return {"raw": replicates.mean(axis=0), "shuffled_within": np.zeros(n), "shuffled_corpus": np.zeros(n),
            "raw_stderr": np.full(n, stderr), "shuffled_corpus_sd": np.full(n, shuffle_sd),
            "boot_raw": replicates, "boot_within": zero, "boot_corpus": zero}


def test_document_level_error_is_the_replicates_spread_never_below_the_pair_error():
    reps = np.array([[1.0, 0.5], [1.2, 0.5], [0.8, 0.5]])  # spread 0.2 at the first d, none at the second
    r = measured(reps)
    corrected = decay.difference(r, "corrected")
    floor = np.hypot(1e-3, 2e-3)
    assert np.allclose(corrected.sigma, [0.2, floor])
    order = decay.difference(r, "order")  # one within-document shuffle: its own noise (one shuffle's spread) added
    assert np.allclose(order.sigma, [np.hypot(0.2, 2e-3), floor])
    one = decay.difference(measured(reps[:1]), "corrected")  # a single replicate has no spread: the pair error
    assert np.allclose(one.sigma, floor)


def test_fit_models_and_the_stated_model():
    y, sigma = floored_curve(seed=1)
    rng = np.random.default_rng(2)
    reps = y + rng.normal(0, sigma, (40, D.size))  # replicates scattered by σ around the curve
    r = measured(reps, stderr=1e-6, shuffle_sd=1e-6)
    r["raw"] = y
    r["shuffled_within"] = np.full(D.size, 0.048)  # the within-document shuffle carries the floor
    r["boot_within"] = np.full((40, D.size), 0.048)
    models = decay.fit_models(D, r)
    name, stated = decay.chosen(models)
    assert name == "order" and stated.fit.fits and abs(stated.fit.alpha - 0.91) < 3 * stated.alpha_sd
    assert models["offset"].fit.fits and models["offset"].fit.offset == pytest.approx(0.048, abs=0.006)
    # the replicates' α spread like the fit's least-squares error (40 replicates: sd known to ±11 %, so a factor 1.5)
    assert stated.alpha_sd == pytest.approx(stated.fit.alpha_stderr, rel=0.5)
    table = decay.summary({"synthetic": models})
    assert table.loc[("synthetic", "order"), "stated"] and table.loc[("synthetic", "offset"), "fits"]
    assert np.array_equal(decay.residual_table(D, {"synthetic": models})["synthetic (order)"], stated.fit.residuals)


def test_the_range_model_starts_where_the_power_law_fits():
    # steeper below d = 8 (adjacent tokens), a power law d^−0.73 from there on: the range model finds d ≥ 8
    truth = np.where(D < 8, 0.3 * D**-0.73 * (8 / D) ** 0.8, 0.3 * D**-0.73)
    sigma = 0.01 * truth + 1e-4
    rng = np.random.default_rng(3)
    reps = truth + rng.normal(0, sigma, (40, D.size))
    r = measured(reps, stderr=1e-7, shuffle_sd=1e-7)
    r["raw"] = truth + rng.normal(0, sigma)
    models = decay.fit_models(D, r)
    assert not models["order"].fit.fits  # one power law over every d misses the short distances
    name, stated = decay.chosen(models)
    assert name == "range" and stated.d_min == 8 and stated.fit.fits
    assert abs(stated.fit.alpha - 0.73) < 3 * stated.alpha_sd
    assert np.all(np.isnan(stated.fit.residuals[D < 8])) and np.all(np.isfinite(stated.fit.residuals[D >= 8]))
