"""Chapter 02's claims rows: each one fails on a constructed wrong result and holds on a right, precise one."""
from __future__ import annotations

import numpy as np
import pytest

from l2m import claims, decay
from l2m import twopoint_claims as tc

D = 2.0 ** np.arange(13)


def model_result(alpha: float, sd: float, curve=None, sigma=None, offset=True, n=200, seed=0) -> decay.ModelResult:
    """A fitted model with bootstrap α scattered by ``sd`` around ``alpha``."""
    if curve is None:
        sigma = 0.01 * 1.1 * D**-alpha + 1e-4
        curve = 1.1 * D**-alpha + 0.05
    fit = decay.fit_decay(D, curve, sigma, offset)
    alphas = fit.alpha + np.random.default_rng(seed).normal(0, sd, n)
    return decay.ModelResult("corrected", fit, alphas, decay.flat_residual(curve, sigma))


def test_alpha_margin_is_the_paper_spread_across_corpora():
    assert tc.alpha_margin() == pytest.approx(0.03, abs=1e-12)  # 0.94 − 0.91


@pytest.mark.parametrize("alpha, sd, verdict", [
    (1.220, 0.010, claims.FAILS),  # far outside 0.94 ± 0.03, measured precisely: every redraw says so too
    (0.94, 0.005, claims.HOLDS),  # the paper's own α, measured precisely
    (0.94, 0.1, claims.UNRESOLVED),  # the paper's own α, too noisy to say
])
def test_wikipedia_exponent_row(alpha, sd, verdict):
    result = model_result(alpha, sd)
    row = tc.exponent_claim("wiki", "wiki: BPE", "offset", result)
    assert result.fit.alpha == pytest.approx(alpha, abs=1e-6)
    assert row.verdict == verdict and (row.stable is not None)


def test_issue_24_wikipedia_row_fails_the_equivalence_test_but_not_every_redraw():
    # 1.220 ± 0.100 against 0.94: the 2-sd interval [1.02, 1.42] lies wholly outside 0.94 ± 0.03, so the test says
    # "does not hold"; but a redraw of α by one sd lands at 1.12, whose interval reaches 0.92: only ~70 % of
    # redraws repeat the verdict, and the row reads "not resolved" (claims.stability)
    assert claims.compare(1.220, 0.100, 0.94, tc.alpha_margin()) == claims.FAILS
    row = tc.exponent_claim("wiki", "wiki: BPE", "offset", model_result(1.220, 0.100))
    assert row.verdict == claims.UNRESOLVED and 0.5 < row.stable < 0.9


def test_pg19_exponent_row_from_issue_24_does_not_hold():
    row = tc.exponent_claim("books", "books: BPE", "offset", model_result(1.227, 0.042))
    assert row.verdict == claims.FAILS and "0.91" in row.paper


def test_exponent_row_is_not_resolved_where_no_model_fits():
    sigma = np.full(D.size, 1e-3)
    wrong = model_result(0.9, 0.001, curve=np.exp(-D / 8) + 0.05, sigma=sigma)  # an exponential decay
    assert not wrong.fit.fits
    assert tc.exponent_claim("books", "books: BPE", "offset", wrong).verdict == claims.UNRESOLVED


def test_decay_row_fails_on_a_curve_that_is_not_a_power_law():
    assert tc.decay_claim("x", "offset", model_result(0.91, 0.01)).verdict == claims.HOLDS
    sigma = np.full(D.size, 1e-3)
    exponential = model_result(0.9, 0.01, curve=np.exp(-D / 8) + 0.05, sigma=sigma)
    assert tc.decay_claim("x", "offset", exponential).verdict == claims.FAILS
    flat = model_result(0.0, 0.05, curve=np.full(D.size, 0.3) + 1e-4 * (-1.0) ** np.arange(13), sigma=np.full(13, 1e-3))
    assert tc.decay_claim("x", "offset", flat).verdict != claims.HOLDS  # no decay: α is not above 0 by 2 sd


def boot_measure(raw_share: float, n: int = 100, noise: float = 0.002, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    raw = 1.1 * D**-0.9 + 0.1
    corpus = raw_share * raw
    return {"raw": raw, "shuffled_corpus": corpus, "boot_raw": raw + rng.normal(0, noise, (n, D.size)),
            "boot_corpus": corpus + rng.normal(0, noise, (n, D.size))}


def test_bias_row():
    assert tc.bias_claim("x", D, boot_measure(0.9)).verdict == claims.HOLDS
    assert tc.bias_claim("x", D, boot_measure(0.2)).verdict == claims.FAILS  # the bias is a fifth: it does not dominate


def test_paired_row_fails_when_the_offset_fit_finds_another_exponent():
    result = model_result(0.91, 0.001)
    right = 1.1 * D**-0.91 + 0.2
    rng = np.random.default_rng(1)
    reps = right * np.exp(rng.normal(0, 1e-4, (200, D.size)))
    assert tc.paired_claim("c", "p", "w", D, right, reps, result, "y").verdict == claims.HOLDS
    wrong = 1.1 * D**-0.11 + 0.01  # the equal-pairs curve of BPE tokens: α = 0.11
    reps = wrong * np.exp(rng.normal(0, 1e-4, (200, D.size)))
    row = tc.paired_claim("c", "p", "w", D, wrong, reps, result, "y")
    assert row.verdict == claims.FAILS and "0.110" in row.measured


def test_between_row():
    sigma = np.full(D.size, 0.005)
    positive = decay.Difference(np.full(D.size, 0.048), sigma, 0.048 + np.zeros((50, D.size)))
    assert tc.between_claim("books", D, positive).verdict == claims.HOLDS
    value = np.full(D.size, 0.048)
    value[-2:] = [-0.013, -0.045]  # the referee's wiki numbers at d = 2048, 4096
    negative = decay.Difference(value, sigma, value + np.zeros((50, D.size)))
    row = tc.between_claim("wiki", D, negative)
    assert row.verdict == claims.FAILS and "-0.045" in row.measured and "4096" in row.measured


def test_counterexample_row():
    assert tc.counterexample_claim(1e-4, 64).verdict == claims.HOLDS
    assert tc.counterexample_claim(0.1, 64).verdict == claims.FAILS


def test_rows_of_a_measured_synthetic_corpus(tmp_path, monkeypatch):
    # the whole path of the chapter, from twopoint.measure to the table, on a Markov chain whose I(d) decays
    # exponentially (characters stand in by the same curve)
    from l2m import twopoint
    from test_twopoint import sticky_chain

    monkeypatch.setenv("L2M_CACHE", str(tmp_path))
    d = np.array([1, 2, 4, 8, 16, 32, 64])
    bpe = {name: twopoint.measure(*sticky_chain(30, 2000, 8, 0.9, seed=k), 8, d, n_boot=10, n_shuffle=2)
           for k, name in enumerate(("books", "wiki"))}
    labels = {"books: t tokens": bpe["books"], "wiki: t tokens": bpe["wiki"], "books: characters": bpe["books"]}
    stated = {label: decay.chosen(decay.fit_models(d, r)) for label, r in labels.items()}
    between = {name: decay.difference(r, "between") for name, r in bpe.items()}
    rows = tc.rows(d, bpe, stated, between, "books", "t", 1e-4, 64)
    assert len(rows) == 10 and all(r.verdict in claims.VERDICTS for r in rows)
    # I(d) of a Markov chain decays exponentially: the power law with its constant misses points by far more than
    # 3σ, so "decays as a power law" does not hold (in every redraw) and no exponent is compared
    assert [r.verdict for r in rows[:4]] == [claims.FAILS, claims.FAILS, claims.UNRESOLVED, claims.UNRESOLVED]
    assert rows[0].stable == 1.0 and rows[2].stable is None and rows[-1].verdict == claims.HOLDS
    table = claims.table(rows, preset="quick")
    assert "verdict at quick" in table.columns


def test_redraws_are_centred_on_the_measured_value():
    # replicates whose own mean is off the measurement (a duplicated document shifts Î): their spread is used,
    # around the measured value, so a clear verdict is not made "not resolved" by the bootstrap's own shift
    r = boot_measure(0.9)
    r["boot_corpus"] = 0.5 * r["boot_corpus"]  # the replicates' share centres on 0.45, below the 0.5 of the claim
    row = tc.bias_claim("x", D, r)
    assert row.verdict == claims.HOLDS and row.stable == 1.0
    assert np.allclose(tc.recentred(1.0, np.array([0.1, 0.3])), [0.9, 1.1])
