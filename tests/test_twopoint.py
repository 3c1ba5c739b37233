"""Two-point MI on data with known answers, the offset fit, and the shuffle baseline."""
import math

import numpy as np
import pytest

from l2m import twopoint
from l2m.fit import fit_power_law_with_offset


def sticky_chain(n_docs: int, length: int, vocab: int, keep: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Markov chain: keep the previous symbol with probability `keep`, else draw uniformly."""
    rng = np.random.default_rng(seed)
    fresh = rng.integers(0, vocab, size=(n_docs, length))
    redraw = rng.random((n_docs, length)) > keep
    redraw[:, 0] = True
    last = np.where(redraw, np.arange(length), 0)
    np.maximum.accumulate(last, axis=1, out=last)
    tokens = np.take_along_axis(fresh, last, axis=1).astype(np.uint32)
    return tokens.ravel(), np.arange(n_docs + 1, dtype=np.int64) * length


def sticky_chain_mi(d: int, vocab: int, keep: float) -> float:
    """Exact I(X_0; X_d): P^d = q I + (1 − q) J/V with q = keep^d and uniform π."""
    q = keep**d
    return (q + (1 - q) / vocab) * math.log(vocab * q + 1 - q) + (1 - 1 / vocab) * (1 - q) * math.log1p(-q)


@pytest.mark.parametrize("dense_limit", [twopoint.DENSE_TABLE_LIMIT, 0])  # bincount path, sort path
def test_markov_chain_matches_closed_form(dense_limit, monkeypatch):
    monkeypatch.setattr(twopoint, "DENSE_TABLE_LIMIT", dense_limit)
    vocab, keep, distances = 6, 0.8, (1, 2, 4, 8, 16)
    tokens, offsets = sticky_chain(200, 5000, vocab, keep, seed=1)
    result = twopoint.two_point_mi(tokens, offsets, distances)
    exact = np.array([sticky_chain_mi(d, vocab, keep) for d in distances])
    assert np.all(np.abs(result.mi - exact) < 4 * result.stderr + 2e-3), (result.mi, exact)
    assert list(result.n_pairs) == [200 * (5000 - d) for d in distances]


def test_grassberger_beats_plugin_on_an_undersampled_table():
    vocab, keep, distances = 100, 0.8, (1, 4, 16, 64)
    tokens, offsets = sticky_chain(50, 1000, vocab, keep, seed=2)  # 50k pairs for 10k cells
    result = twopoint.two_point_mi(tokens, offsets, distances)
    exact = np.array([sticky_chain_mi(d, vocab, keep) for d in distances])
    grassberger_bias, plugin_bias = result.mi - exact, result.mi_plugin - exact
    assert abs(grassberger_bias[0]) < 0.1 * plugin_bias[0]  # well sampled at d = 1: bias nearly gone
    assert np.all(grassberger_bias < plugin_bias) and np.all(plugin_bias > 0)
    # at large d the true MI is ~0 and what remains is a positive bias, about equal at d = 16 and 64:
    # the constant C of the offset fit
    assert grassberger_bias[3] > 0.1 and grassberger_bias[3] == pytest.approx(grassberger_bias[2], rel=0.1)


def test_pairs_never_cross_documents():
    tokens = np.array([0] * 50 + [1] * 50 + [2] * 30, dtype=np.uint32)
    offsets = np.array([0, 50, 100, 130])
    left, right = twopoint.pairs_at(tokens, offsets, 10)
    assert np.array_equal(left, right) and len(left) == 40 + 40 + 20
    result = twopoint.two_point_mi(tokens, offsets, [1, 10, 40])
    assert list(result.n_pairs) == [49 + 49 + 29, 40 + 40 + 20, 10 + 10]
    p = np.array([40, 40, 20]) / 100
    assert result.mi_plugin[1] == pytest.approx(-(p * np.log(p)).sum(), rel=1e-12)


def test_equal_pairs_use_the_same_left_positions_at_every_distance():
    tokens, offsets = sticky_chain(20, 300, 5, 0.5, seed=1)
    result = twopoint.two_point_mi(tokens, offsets, (1, 4, 64), equal_pairs=True)
    assert list(result.n_pairs) == [20 * (300 - 64)] * 3
    left_1, right_1 = twopoint.pairs_at(tokens, offsets, 1, span=64)
    left_64, right_64 = twopoint.pairs_at(tokens, offsets, 64, span=64)
    assert np.array_equal(left_1, left_64) and np.array_equal(right_64[:236], tokens[64:300])
    # distances at which fewer than half of the tokens start a pair are left out (NaN)
    long = twopoint.two_point_mi(tokens, offsets, (1, 4, 64, 256), equal_pairs=True)
    assert np.isnan(long.mi[3]) and long.n_pairs[3] == 0 and list(long.n_pairs[:3]) == [20 * (300 - 64)] * 3


def test_sort_and_dense_counting_agree():
    rng = np.random.default_rng(3)
    left, right = rng.integers(0, 50, 10_000), rng.integers(0, 50, 10_000)
    dense = twopoint.pair_count_histogram(left, right, 50)
    limit = twopoint.DENSE_TABLE_LIMIT
    try:
        twopoint.DENSE_TABLE_LIMIT = 0
        sparse = twopoint.pair_count_histogram(left, right, 50)
    finally:
        twopoint.DENSE_TABLE_LIMIT = limit
    assert np.array_equal(dense[0], sparse[0]) and np.array_equal(dense[1], sparse[1])


def test_shuffle_baseline_has_no_dependence():
    tokens, offsets = sticky_chain(100, 2000, 8, 0.9, seed=2)
    shuffled = twopoint.shuffle_within_documents(tokens, offsets, seed=0)
    for s, e in zip(offsets[:-1], offsets[1:]):
        assert np.array_equal(np.sort(shuffled[s:e]), np.sort(tokens[s:e]))
    before = twopoint.two_point_mi(tokens, offsets, (1,)).mi[0]
    after = twopoint.two_point_mi(shuffled, offsets, (1,)).mi[0]
    assert before > 0.5 and abs(after) < 0.01


def test_top_k_alphabet():
    tokens = np.array([5, 5, 5, 2, 2, 9, 7], dtype=np.uint32)
    assert list(twopoint.top_k_alphabet(tokens, 2)) == [0, 0, 0, 1, 1, 2, 2]


def test_offset_fit_recovers_parameters():
    d = 2.0 ** np.arange(13)
    exact = fit_power_law_with_offset(d, 1.1 * d**-0.91 + 0.05)
    assert exact == pytest.approx((1.1, 0.91, 0.05), rel=1e-5)
    a, alpha, c = exact  # unpacks as (A, alpha, C)
    assert 0 < c < (1.1 * d**-0.91 + 0.05).min()
    rng = np.random.default_rng(0)
    signal = 1.87 * d**-0.94
    noisy = fit_power_law_with_offset(d, signal * np.exp(rng.normal(0, 0.01, d.size)) + 0.02)
    assert noisy.alpha == pytest.approx(0.94, abs=0.03) and noisy.offset == pytest.approx(0.02, abs=0.002)
    no_offset = fit_power_law_with_offset(d, 2 * d**-0.5)
    assert no_offset.offset == pytest.approx(0, abs=1e-6) and no_offset.alpha == pytest.approx(0.5, rel=1e-6)


def test_bootstrap_alpha_spreads_around_the_fit():
    tokens, offsets = sticky_chain(60, 3000, 4, 0.97, seed=4)
    alphas = twopoint.bootstrap_alpha(tokens, offsets, (1, 2, 4, 8, 16, 32), n_boot=8, seed=0)
    assert alphas.shape == (8,) and np.all(np.isfinite(alphas)) and alphas.std() > 0
