"""l2m.references: the best position-blind linear predictor and the exact minimal history state, against oracles."""
import numpy as np
import pytest

from l2m import gaussian, references


def lag_design(z: np.ndarray) -> np.ndarray:
    """Zero-padded lag features of sequences z (N, L): X[n, t, j−1] = z[n, t−j], 0 before the start."""
    n, length = z.shape
    design = np.zeros((n, length, length - 1))
    for lag in range(1, length):
        design[:, lag:, lag - 1] = z[:, :-lag]
    return design


def test_position_blind_matches_a_brute_force_fit():
    cov = gaussian.covariance(2, "power")  # L = 16
    batch = gaussian.GaussianSampler(cov, channels=16).sample(2000, np.random.default_rng(0))
    z = batch.targets.transpose(0, 2, 1).reshape(-1, len(cov))  # (B·C, L): every channel a sequence
    design = lag_design(z)  # (B·C, L, L−1): one row per position, one set of weights for all
    fitted = np.linalg.lstsq(design.reshape(-1, len(cov) - 1), z.reshape(-1), rcond=None)[0]
    mean_q = (design @ fitted).reshape(len(batch.targets), -1, len(cov)).transpose(0, 2, 1)  # (B, L, C)
    variance = np.mean((batch.targets - mean_q) ** 2)
    weights, exact_variance = references.position_blind_predictor(cov)
    assert np.allclose(fitted, weights, atol=0.015)  # off by 0.006 at most with this seed
    assert variance == pytest.approx(exact_variance, rel=0.01)
    # 1. the sampled KL_t of the fitted predictor against the batch's exact conditionals equals the
    #    exact KL_t of those same weights from Σ: sampling noise only
    kl = gaussian.conditional_kl(mean_q, np.sqrt(variance), batch.mean, batch.std)  # (B, L)
    stderr = kl.std(0, ddof=1) / np.sqrt(len(kl))
    at_fitted = (0.5 * np.log(variance) - np.log(references.conditional_std(cov))
                 + references.position_blind_error(cov, fitted) / (2 * variance) - 0.5)
    assert np.all(np.abs(kl.mean(0) - at_fitted) < 4 * stderr + 1e-9)
    # 2. the closed form is the optimum: no fitted or perturbed shared predictor does better on average
    optimum = references.position_blind_kl(cov)
    assert np.allclose(at_fitted, optimum, rtol=0.03, atol=5e-4) and optimum.mean() <= at_fitted.mean()
    assert at_fitted.mean() - optimum.mean() < 1e-4  # estimation error costs second order only
    rng = np.random.default_rng(1)
    for _ in range(5):
        nudged = weights + 0.01 * rng.standard_normal(len(weights))
        assert references.position_blind_error(cov, nudged).sum() > references.position_blind_error(cov, weights).sum()
    assert references.position_blind_error(cov, weights).mean() == pytest.approx(exact_variance, rel=1e-12)


@pytest.mark.parametrize("layers", [2, 3, 4])
def test_position_blind_lies_between_exact_and_marginal(layers):
    cov = gaussian.covariance(layers, "power")
    blind = references.position_blind_kl(cov)
    assert 0.01 < blind.mean() < references.marginal_kl(cov).mean()
    assert np.all(blind > -1e-12)
    refs = references.gaussian_references(cov)
    names = list(refs)
    assert names[0] == "N(0, 1): learned nothing" and names[-1] == "best linear, position-blind"
    assert np.array_equal(refs["best linear, position-blind"], blind)


def test_position_blind_is_exact_for_a_stationary_process():
    # AR(1): z_t = φ z_{t−1} + noise, Var z_t = 1. w = φ e_1 gives every t ≥ 2 its exact conditional,
    # and t = 1 (nothing before it) has error 1 whatever w, so w = φ e_1 minimises every e_t at once.
    phi, length = 0.6, 32
    lags = np.arange(length)
    cov = phi ** np.abs(lags[:, None] - lags[None, :])
    weights, variance = references.position_blind_predictor(cov)
    assert np.allclose(weights, np.eye(length - 1)[0] * phi, atol=1e-10)
    innovation = 1 - phi**2  # σ_p² for t ≥ 2
    assert variance == pytest.approx((1 + (length - 1) * innovation) / length, rel=1e-12)
    kl = references.position_blind_kl(cov)
    assert kl[0] == pytest.approx(0.5 * np.log(variance) + 1 / (2 * variance) - 0.5, rel=1e-10)
    tail = 0.5 * np.log(variance / innovation) + innovation / (2 * variance) - 0.5  # the shared σ is a bit too wide
    assert np.allclose(kl[1:], tail, rtol=1e-8) and 0 < tail < 1e-3 < kl[0]


def test_full_window_is_the_exact_conditional():
    cov = gaussian.covariance(2, "log")
    n = len(cov)
    assert np.array_equal(references.window_kl(cov, n - 1), np.zeros(n))
    batch = gaussian.GaussianSampler(cov, channels=3).sample(5, np.random.default_rng(1))
    for k in (n - 1, n + 5):  # a window at least as long as the past: the exact conditional means
        assert np.allclose(references.window_weights(cov, k) @ batch.targets, batch.mean, atol=1e-10)
    for k in (0, 1, 4):  # shorter windows: the weights give window_variance's Schur complement
        weights = references.window_weights(cov, k)
        assert np.allclose(np.diag(cov) - np.einsum("ts,st->t", weights, cov), references.window_variance(cov, k))
        assert np.all(np.count_nonzero(weights, axis=1) <= k)


def test_position_blind_runs_at_long_context():
    cov = gaussian.covariance(5, "power")  # L = 1024
    kl = references.position_blind_kl(cov)
    assert kl.shape == (1024,) and np.all(np.isfinite(kl))
    assert 0 < kl.mean() < references.marginal_kl(cov).mean()


@pytest.mark.parametrize("family", gaussian.FAMILIES)
def test_canonical_mi_sums_to_bipartite_mi_at_every_split(family):
    cov = gaussian.covariance(3, family)
    ells = [1, 7, 21, 32, 50, 63]
    total = [references.canonical_mi(cov, ell).sum() for ell in ells]
    assert np.allclose(total, gaussian.bipartite_mi(cov, np.array(ells)), rtol=1e-9)


@pytest.fixture(scope="module")
def state_table():
    return references.minimal_state_table(5)  # L = 4 .. 1024, about a second


def test_minimal_state_table(state_table):
    assert list(state_table["seq_len"]) == [4, 16, 64, 256, 1024]
    assert list(state_table["pairs_99"][1:4]) == [4, 11, 32]  # this book's measurement (not in the paper): about 4, 11, 32 at L = 16, 64, 256
    assert np.all(state_table["pairs_90"] <= state_table["pairs_99"])
    assert np.all(state_table["pairs_99"] <= state_table["seq_len"] // 2)
    cov = gaussian.covariance(3, "power")
    assert state_table["bipartite_mi"][2] == pytest.approx(gaussian.bipartite_mi(cov, 32), rel=1e-12)


def test_pairs_column_names_the_table_columns(state_table):
    assert references.pairs_column(0.99) == "pairs_99" and references.pairs_column(0.9) == "pairs_90"
    assert references.pairs_column(0.995) == "pairs_99.5"
    assert [references.pairs_column(f) for f in references.STATE_FRACTIONS] == [c for c in state_table.columns
                                                                                if c.startswith("pairs_")]
    assert [references.column_fraction(references.pairs_column(f)) for f in (0.9, 0.99)] == [0.9, 0.99]
    assert references.column_fraction("seq_len") is None
    with pytest.raises(ValueError):
        references.pairs_column(99)


@pytest.mark.parametrize("fraction", [0.9, 0.99])
def test_state_grows_sublinearly(state_table, fraction):
    fit = references.state_growth_fit(state_table, fraction)
    assert 0.5 < fit.exponent < 1  # ≈ 0.77: like I_BP (β = log₄3 ≈ 0.79), below a state that grows with L


def _projected_mi(a: np.ndarray, cov: np.ndarray, ell: int) -> float:
    """I(A X; Y) in nats for jointly Gaussian X = z[:ell], Y = z[ell:] and a state matrix A (k, ell)."""
    sxx, sxy, syy = cov[:ell, :ell], cov[:ell, ell:], cov[ell:, ell:]
    szz, szy = a @ sxx @ a.T, a @ sxy
    joint = np.block([[szz, szy], [szy.T, syy]])
    return 0.5 * (np.linalg.slogdet(szz)[1] + np.linalg.slogdet(syy)[1] - np.linalg.slogdet(joint)[1])


@pytest.mark.parametrize("k", [1, 2, 3])
def test_linear_state_bound_is_the_best_linear_projection(k):
    """Brute force on a small covariance: no k-number linear state carries more than the bound, and the
    best one found by optimising A from many random starts reaches it."""
    import scipy.optimize

    cov, ell = gaussian.covariance(2, "power")[:8, :8], 4
    bound = references.linear_state_bound(cov, ell, k)
    rng = np.random.default_rng(k)
    random_mi = [_projected_mi(rng.normal(size=(k, ell)), cov, ell) for _ in range(2000)]
    assert max(random_mi) <= bound + 1e-10
    best = max(-scipy.optimize.minimize(lambda v: -_projected_mi(v.reshape(k, ell), cov, ell),
                                        rng.normal(size=k * ell)).fun for _ in range(5))
    assert best == pytest.approx(bound, rel=1e-6)
    assert references.linear_state_bound(cov, ell, ell) == pytest.approx(gaussian.bipartite_mi(cov, ell), rel=1e-10)


def test_linear_state_bound_pools_channels_and_matches_the_papers_fractions():
    cov = gaussian.covariance(3, "power")  # L = 64
    full = gaussian.bipartite_mi(cov, 32)
    fractions = [references.linear_state_bound(cov, 32, k) / full for k in (1, 2, 4, 8, 16)]
    assert np.round(fractions, 2).tolist() == [0.13, 0.25, 0.47, 0.88, 1.00]
    # two channels: 2k numbers carry exactly twice what k numbers carry in one
    assert references.linear_state_bound(cov, 32, 8, channels=2) == pytest.approx(
        2 * references.linear_state_bound(cov, 32, 4))
    assert references.linear_state_bound(cov, 32, 10**6, channels=3) == pytest.approx(3 * full, rel=1e-10)


def test_the_maximising_split_is_not_the_centre():
    cov = gaussian.covariance(4, "power")  # L = 256
    ell = references.maximising_split(cov)
    mi = gaussian.bipartite_mi(cov, np.arange(1, 256))
    assert mi[ell - 1] == mi.max() and ell in (102, 154)  # the cut beside the centre's dip, or its mirror image
    table = references.minimal_state_table(4, split="max")
    assert table["ell"].iloc[-1] == ell and table["bipartite_mi"].iloc[-1] == pytest.approx(mi.max(), rel=1e-12)
    assert np.all(table["pairs_99"].to_numpy() >= references.minimal_state_table(4)["pairs_99"].to_numpy())
    with pytest.raises(ValueError):
        references.minimal_state_table(2, split="middle")
