"""Bipartite MI estimators against a Markov chain with closed-form answers, and the planner."""
import math

import numpy as np
import pytest

from l2m import bipartite

# A 3-state stationary Markov chain: I(X; Y) = I(x_ell; y_1) for adjacent blocks.
P = np.array([[0.8, 0.15, 0.05], [0.1, 0.7, 0.2], [0.25, 0.05, 0.7]])
w, v = np.linalg.eig(P.T)
PI = np.real(v[:, np.argmin(abs(w - 1))])
PI /= PI.sum()


class MarkovScorer:
    """The exact model: log q(w_1 | BOS) = log π, then log P(w_t | w_{t−1})."""

    name, fingerprint = "markov", "m" * 64

    def score(self, sequences, progress=False):
        out = []
        for s in sequences:
            s = np.asarray(s)
            out.append(np.concatenate([[math.log(PI[s[0]])], np.log(P[s[:-1], s[1:]])]))
        return out


def markov_windows(n, length, seed=0):
    rng = np.random.default_rng(seed)
    x = np.empty((n, length), dtype=np.int64)
    x[:, 0] = rng.choice(3, size=n, p=PI)
    for t in range(1, length):
        u = rng.random(n)
        x[:, t] = (u[:, None] > np.cumsum(P[x[:, t - 1]], axis=1)).sum(axis=1)
    return x


def test_direct_and_vclub_match_closed_forms():
    windows = markov_windows(4000, 16)
    points = bipartite.plan_points(16, (2, 4))
    plan = bipartite.make_plan(windows, points, k_pairings=2, seed=0)
    scores = MarkovScorer().score(plan.sequences)
    h_bigram = -(PI[:, None] * P * np.log(PI[:, None] * P)).sum()  # exact H(w1, w2)
    est = bipartite.estimates(plan, scores, h_bigram)
    true_mi = (PI[:, None] * P * np.log(P / PI[None, :])).sum()
    club = (PI[:, None] * P * np.log(P)).sum() - (PI[:, None] * PI[None, :] * np.log(P)).sum()
    for name, expected in (("direct", true_mi), ("direct_corrected", true_mi), ("vclub", club)):
        mean, sem = est[name].mean(0), est[name].std(0) / math.sqrt(len(windows))
        assert np.all(np.abs(mean - expected) < 4 * sem + 1e-3), (name, mean, expected)
    assert club > true_mi  # CLUB with the exact conditional is an upper bound


def test_one_conditional_pass_serves_every_split():
    windows = markov_windows(3, 32, seed=1)
    points = bipartite.plan_points(32)
    plan = bipartite.make_plan(windows, points, k_pairings=1)
    scores = MarkovScorer().score(plan.sequences)
    est = bipartite.estimates(plan, scores, None)
    for w in range(3):  # each split scored on its own gives the same direct estimate
        for j, p in enumerate(points):
            cond, marg = MarkovScorer().score([windows[w, : p.length], windows[w, p.ell : p.length]])
            assert est["direct"][w, j] == pytest.approx(cond[p.ell :].sum() - marg.sum(), abs=1e-12)


def test_plan_is_five_times_smaller_than_the_papers_at_paper_scale():
    points = bipartite.plan_points(2048)
    plan = bipartite.make_plan(np.zeros((4, 2048), dtype=np.int64), points, k_pairings=1)
    ours_per_window = plan.forward_tokens / 4
    theirs_per_window = bipartite.paper_forward_tokens(1, points, 2048)
    assert theirs_per_window / ours_per_window >= 5
    reach = bipartite.longest_ratio(points)
    expected = 2049 + sum((r - 1) * ell + 1 + r * ell + 1 for ell, r in reach.items())
    assert ours_per_window == expected


def test_plan_points_and_windows():
    assert [(p.ratio, p.ell) for p in bipartite.plan_points(16, (2, 4))] == [(2, 2), (2, 4), (2, 8), (4, 2), (4, 4)]
    with pytest.raises(ValueError, match="too short"):
        bipartite.plan_points(3, (2,))
    tokens = np.arange(100)
    offsets = np.array([0, 10, 60, 100])
    windows, docs = bipartite.make_windows(tokens, offsets, 2, 40, seed=0)
    assert list(docs) == [1, 2] and windows.shape == (2, 40)
    assert np.all(np.diff(windows, axis=1) == 1)  # contiguous, inside one document
    with pytest.raises(ValueError, match="only 2 documents have at least 40 tokens; asked for 3"):
        bipartite.make_windows(tokens, offsets, 3, 40)
    pairings = bipartite.derangements(5, 3, seed=0)
    assert pairings.shape == (3, 5) and np.all(pairings != np.arange(5))


def test_compression_sees_redundancy():
    rng = np.random.default_rng(0)
    block = rng.integers(97, 123, size=512)
    windows = np.stack([np.concatenate([block[:256], block[:256]]), block])  # repeated halves, then random
    plan = bipartite.make_plan(windows, [bipartite.Point(2, 256)], k_pairings=1)
    decode = lambda ids: "".join(map(chr, ids))  # noqa: E731
    est = bipartite.compression_estimates(plan, decode)
    for name in ("compression_lzma", "compression_zstd"):
        repeated, independent = est[name][:, 0]
        # the repeat carries ~256·ln 26 nats; independent halves still show some: compression's upward bias
        assert repeated > 0.7 * 256 * math.log(26) and 0 < independent < 0.3 * repeated


def test_fit_with_bootstrap_recovers_exponent():
    rng = np.random.default_rng(0)
    lengths = np.array([4, 8, 16, 32, 64, 128])
    per_window = 2.0 * lengths**0.7 * rng.lognormal(0, 0.1, size=(200, len(lengths)))
    fit, boot = bipartite.fit_with_bootstrap(lengths, per_window, n_boot=100)
    assert fit.exponent == pytest.approx(0.7, abs=0.02) and boot.shape == (100, 2)
    assert 0 < boot[:, 1].std() < 0.02
