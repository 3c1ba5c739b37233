"""Two-point MI on data with known answers, the offset fit, and the shuffle baseline."""
import collections
import math

import numpy as np
import pytest

from l2m import paircount, twopoint
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


@pytest.mark.parametrize("dense_limit", [paircount.DENSE_TABLE_LIMIT, 0])  # bincount path, sort path
def test_markov_chain_matches_closed_form(dense_limit, monkeypatch):
    monkeypatch.setattr(paircount, "DENSE_TABLE_LIMIT", dense_limit)
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


def pairs_at(tokens, offsets, d, span=None):
    """The reference: left and right members of every in-document pair at distance d, each document sliced."""
    span = d if span is None else span
    kept = [(s, e) for s, e in zip(offsets[:-1], offsets[1:]) if e - s > span]
    return (np.concatenate([tokens[s : e - span] for s, e in kept]),
            np.concatenate([tokens[s + d : e - span + d] for s, e in kept]))


def test_pairs_never_cross_documents():
    tokens = np.array([0] * 50 + [1] * 50 + [2] * 30, dtype=np.uint32)
    offsets = np.array([0, 50, 100, 130])
    left, right = pairs_at(tokens, offsets, 10)
    assert np.array_equal(left, right) and len(left) == 40 + 40 + 20
    result = twopoint.two_point_mi(tokens, offsets, [1, 10, 40])
    assert list(result.n_pairs) == [49 + 49 + 29, 40 + 40 + 20, 10 + 10]
    p = np.array([40, 40, 20]) / 100
    assert result.mi_plugin[1] == pytest.approx(-(p * np.log(p)).sum(), rel=1e-12)


def test_equal_pairs_use_the_same_left_positions_at_every_distance():
    tokens, offsets = sticky_chain(20, 300, 5, 0.5, seed=1)
    result = twopoint.two_point_mi(tokens, offsets, (1, 4, 64), equal_pairs=True)
    assert list(result.n_pairs) == [20 * (300 - 64)] * 3
    left_1, right_1 = pairs_at(tokens, offsets, 1, span=64)
    left_64, right_64 = pairs_at(tokens, offsets, 64, span=64)
    assert np.array_equal(left_1, left_64) and np.array_equal(right_64[:236], tokens[64:300])
    # distances at which fewer than half of the tokens start a pair are left out (NaN)
    long = twopoint.two_point_mi(tokens, offsets, (1, 4, 64, 256), equal_pairs=True)
    assert np.isnan(long.mi[3]) and long.n_pairs[3] == 0 and list(long.n_pairs[:3]) == [20 * (300 - 64)] * 3


def test_sort_and_dense_counting_agree(monkeypatch):
    codes = np.random.default_rng(3).integers(0, 50 * 50, 10_000).astype(np.uint32)
    dense = paircount.run_lengths(codes.copy(), 50)
    monkeypatch.setattr(paircount, "DENSE_TABLE_LIMIT", 0)
    sparse = paircount.run_lengths(codes.copy(), 50)
    assert np.array_equal(dense[0], sparse[0]) and np.array_equal(dense[1], sparse[1]) and dense[1].sum() == 10_000


def test_shuffle_baseline_has_no_dependence():
    tokens, offsets = sticky_chain(100, 2000, 8, 0.9, seed=2)
    for shuffle in (twopoint.shuffle_within_documents, twopoint.shuffle_across_corpus):
        shuffled = shuffle(tokens, offsets, seed=0)
        assert np.array_equal(np.sort(shuffled), np.sort(tokens))  # same corpus-wide marginals
        before = twopoint.two_point_mi(tokens, offsets, (1,)).mi[0]
        after = twopoint.two_point_mi(shuffled, offsets, (1,)).mi[0]
        assert before > 0.5 and abs(after) < 0.01  # one law for every document: nothing is left
    within = twopoint.shuffle_within_documents(tokens, offsets, seed=0)
    for s, e in zip(offsets[:-1], offsets[1:]):
        assert np.array_equal(np.sort(within[s:e]), np.sort(tokens[s:e]))


def test_within_document_shuffle_keeps_between_document_mi():
    # each document i.i.d. from its own unigram law: no sequential dependence, exact MI known and constant in d
    tokens, offsets, exact = twopoint.document_unigram_corpus(n_docs=40, length=20_000, vocab=64, seed=0)
    assert 0.03 < exact < 0.1
    distances = (1, 16, 256)
    raw = twopoint.two_point_mi(tokens, offsets, distances)
    within = twopoint.two_point_mi(twopoint.shuffle_within_documents(tokens, offsets, seed=1), offsets, distances)
    across = twopoint.two_point_mi(twopoint.shuffle_across_corpus(tokens, offsets, seed=1), offsets, distances)
    rng = np.random.default_rng(2)  # as many i.i.d. tokens from the corpus-wide law: the estimator's bias alone
    iid = rng.choice(64, size=len(tokens), p=np.bincount(tokens, minlength=64) / len(tokens)).astype(np.uint32)
    iid_mi = twopoint.two_point_mi(iid, offsets, distances).mi
    tolerance = 4 * raw.stderr + 1e-3
    assert np.all(np.abs(raw.mi - exact) < tolerance), (raw.mi, exact)
    assert np.all(np.abs(within.mi - exact) < tolerance), (within.mi, exact)  # the document-level MI stays
    assert np.all(np.abs(across.mi) < 0.01 * exact) and np.all(np.abs(iid_mi) < 0.01 * exact)  # only bias is left
    assert np.all(np.abs(across.mi - iid_mi) < 5e-4)


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


def test_count_curves_gives_the_corpus_curves_and_replicates_around_them():
    tokens, offsets = sticky_chain(60, 3000, 4, 0.97, seed=4)
    distances = np.array((1, 2, 4, 8, 16, 32))
    out = twopoint.count_curves(tokens, offsets, distances, n_boot=8, seed=0)
    whole = twopoint.two_point_mi(tokens, offsets, distances)  # every group once: the corpus's own counts
    assert np.array_equal(out["raw"], whole.mi) and np.array_equal(out["n_pairs"], whole.n_pairs)
    assert np.array_equal(out["raw_stderr"], whole.stderr) and np.array_equal(out["plugin"], whole.mi_plugin)
    equal = twopoint.two_point_mi(tokens, offsets, distances, equal_pairs=True)
    assert np.array_equal(out["equal"], equal.mi, equal_nan=True)
    within = twopoint.shuffle_within_documents(tokens, offsets, seed=0)
    assert np.array_equal(out["shuffled_within"], twopoint.two_point_mi(within, offsets, distances).mi)
    for k in range(2):  # shuffle k has seed 1 + k
        across = twopoint.shuffle_across_corpus(tokens, offsets, seed=1 + k)
        assert np.array_equal(out["shuffles"][k], twopoint.two_point_mi(across, offsets, distances).mi)
    for key in ("boot_raw", "boot_within", "boot_corpus", "boot_equal"):
        assert out[key].shape == (8, 6) and np.all(np.isfinite(out[key])) and np.all(out[key].std(axis=0) > 0)
    exact = np.array([sticky_chain_mi(int(d), 4, 0.97) for d in distances])
    spread = out["boot_raw"].std(axis=0)
    assert np.all(np.abs(out["boot_raw"].mean(axis=0) - exact) < 5 * spread + 0.01)  # replicates scatter around I(d)
    no_equal = twopoint.count_curves(tokens, offsets, distances, n_boot=2, equal_boot=False, seed=0)
    assert np.all(np.isnan(no_equal["boot_equal"])) and np.array_equal(no_equal["equal"], out["equal"], equal_nan=True)


def test_measure_returns_both_baselines(tmp_path, monkeypatch):
    monkeypatch.setenv("L2M_CACHE", str(tmp_path))
    tokens, offsets, exact = twopoint.document_unigram_corpus(n_docs=20, length=4000, vocab=16, seed=3)
    result = twopoint.measure(tokens, offsets, 16, (1, 4, 16), n_boot=2, n_shuffle=3)
    assert np.allclose(result["shuffled_within"], result["raw"], atol=0.02)
    assert np.all(np.abs(result["shuffled_corpus"]) < 0.1 * exact) and np.all(result["shuffled_corpus_sd"] > 0)
    for key in ("boot_raw", "boot_within", "boot_corpus", "boot_equal"):
        assert result[key].shape == (2, 3)
    with pytest.raises(ValueError, match="n_shuffle"):
        twopoint.measure(tokens, offsets, 16, (1,), n_shuffle=1)


def test_shuffles_within_the_budget_equal_the_in_memory_ones_or_stay_uniform(tmp_path, monkeypatch):
    monkeypatch.setenv("L2M_CACHE", str(tmp_path))
    tokens = np.random.default_rng(0).integers(0, 500, 10_000).astype(np.uint16)
    offsets = np.array([0, 10, 3000, 3001, 9000, 10_000])
    # within documents: the same draws whether the copy is in memory or a memory map
    in_memory = twopoint.shuffle_within_documents(tokens, offsets, seed=3)
    mapped = twopoint.shuffle_within_documents(tokens, offsets, seed=3, memory_budget=1000)
    assert isinstance(mapped.base, np.memmap) and np.array_equal(mapped, in_memory)
    # across the corpus: one permutation up to a bucket's size (as before), buckets past it, still a permutation
    assert np.array_equal(twopoint.shuffle_across_corpus(tokens, offsets, seed=3), np.random.default_rng(3).permutation(tokens))
    monkeypatch.setattr(twopoint, "SHUFFLE_BUCKET_TOKENS", 1000)  # 10 buckets
    monkeypatch.setattr(twopoint, "SHUFFLE_BLOCK_TOKENS", 700)  # blocks straddle the buckets
    bucketed = twopoint.shuffle_across_corpus(tokens, offsets, seed=3)
    assert np.array_equal(np.sort(bucketed), np.sort(tokens)) and not np.array_equal(bucketed, tokens)
    mapped = twopoint.shuffle_across_corpus(tokens, offsets, seed=3, memory_budget=1000)  # the budget picks the storage,
    assert isinstance(mapped.base, np.memmap) and np.array_equal(mapped, bucketed)  # never the permutation
    # uniform over all 5! orders of five tokens: buckets of two expected, blocks of two dealt across them
    monkeypatch.setattr(twopoint, "SHUFFLE_BUCKET_TOKENS", 2)
    monkeypatch.setattr(twopoint, "SHUFFLE_BLOCK_TOKENS", 2)
    seen = collections.Counter(tuple(twopoint.shuffle_across_corpus(np.arange(5, dtype=np.uint8), None, seed).tolist())
                               for seed in range(12_000))
    assert len(seen) == 120
    chi2 = sum((n - 100) ** 2 / 100 for n in seen.values())
    assert chi2 < 167  # χ² with 119 degrees of freedom, p ≈ 0.001; a dealer that keeps block order fails


def test_measure_does_not_depend_on_the_memory_budget(tmp_path, monkeypatch):
    # the budget is not part of measure's cache key: in memory or on disk, the same curves must come out
    monkeypatch.setattr(twopoint, "SHUFFLE_BUCKET_TOKENS", 5000)  # the bucketed corpus-wide shuffle, both times
    tokens, offsets = sticky_chain(12, 1000, 40, 0.5, seed=5)
    spills = collections.Counter()
    for cls in (paircount.SpilledPairTable, paircount.SpilledGroupCounts):
        monkeypatch.setattr(cls, "close", lambda self, close=cls.close: spills.update([type(self).__name__]) or close(self))
    runs = []
    for k, budget in enumerate((paircount.DEFAULT_MEMORY_BUDGET, 60_000)):  # 60 kB: copies mapped, counts spilled
        monkeypatch.setenv("L2M_CACHE", str(tmp_path / str(k)))
        runs.append(twopoint.measure(tokens, offsets, 40, (1, 16, 64), n_boot=2, n_shuffle=2, memory_budget=budget))
        assert (sum(spills.values()) > 0) == (k == 1)  # the small budget really went to DuckDB
    assert spills["SpilledGroupCounts"] > 0
    whole, small = runs
    for name in ("n_pairs", "raw", "plugin", "equal", "shuffled_within", "shuffled_corpus", "shuffled_corpus_sd",
                 "boot_raw", "boot_within", "boot_corpus", "boot_equal"):
        assert np.array_equal(whole[name], small[name], equal_nan=True), name  # the same histograms: the same floats
    assert np.allclose(whole["raw_stderr"], small["raw_stderr"], rtol=1e-9)  # DuckDB sums in another order
