"""l2m.predictive (the chain rule, predictive information) against log-determinants and brute-force conditionals (ch. 06)."""
import math

import numpy as np
import pytest

from l2m import gaussian, predictive


def conditional_variance(cov, t, given):
    """Var(z_t | z_given) by the Schur complement, solved directly (no Cholesky)."""
    given = list(given)
    if not given:
        return cov[t, t]
    s = cov[np.ix_(given, given)]
    c = cov[given, t]
    return cov[t, t] - c @ np.linalg.solve(s, c)


def brute_force_terms(cov, ell):
    """I(X; w_t | w_{ell..t-1}) = ½ ln[Var(w_t | Y's past) / Var(w_t | X and Y's past)], one t at a time."""
    n = len(cov)
    return np.array([0.5 * math.log(conditional_variance(cov, t, range(ell, t))
                                    / conditional_variance(cov, t, range(t))) for t in range(ell, n)])


@pytest.mark.parametrize("family", gaussian.FAMILIES)
@pytest.mark.parametrize("layers", [3, 4])  # L = 64 and 256
def test_chain_rule_terms_sum_to_bipartite_mi(family, layers):
    cov = gaussian.covariance(layers, family)
    ell = len(cov) // 2
    terms = gaussian.chain_rule_terms(cov, ell)
    assert terms.shape == (len(cov) - ell,) and np.all(terms > -1e-12)  # conditional MIs are never negative
    # float64: both sides are sums of ~L logarithms of Cholesky diagonals, rounding ~1e-13 relative
    assert terms.sum() == pytest.approx(gaussian.bipartite_mi(cov, ell), rel=1e-9)


@pytest.mark.parametrize("family", gaussian.FAMILIES)
@pytest.mark.parametrize("ell", [1, 5, 8, 13])
def test_chain_rule_terms_equal_brute_force_conditional_mi(family, ell):
    cov = gaussian.covariance(2, family)  # L = 16: every conditional solved directly
    # float64 solves of well-conditioned 16×16 systems: agreement to ~1e-12 absolute
    np.testing.assert_allclose(gaussian.chain_rule_terms(cov, ell), brute_force_terms(cov, ell), atol=1e-10)


def test_chain_rule_terms_reject_bad_split():
    cov = gaussian.covariance(1)
    for ell in (0, 4, 2.0):
        with pytest.raises(ValueError):
            gaussian.chain_rule_terms(cov, ell)


def test_two_point_past_sums_by_hand():
    cov = gaussian.covariance(2, "power")
    ell = 8
    expected = [sum(gaussian.two_point_mi(cov, s, t) for s in range(ell)) for t in range(ell, 16)]
    np.testing.assert_allclose(predictive.two_point_past_sums(cov, ell), expected, rtol=1e-12)


def test_two_point_sum_is_not_the_chain_rule_when_the_past_is_redundant():
    """Two copies of one variable in X: the pairwise sum counts its information twice, the chain rule once."""
    r = 0.6
    cov = np.array([[1, 1 - 1e-9, r], [1 - 1e-9, 1, r], [r, r, 1.0]])  # X = (a, a'), a' ≈ a; Y = b
    exact = -0.5 * math.log1p(-r * r)
    assert gaussian.chain_rule_terms(cov, 2).sum() == pytest.approx(exact, rel=1e-6)
    assert predictive.two_point_past_sums(cov, 2).sum() == pytest.approx(2 * exact, rel=1e-12)


@pytest.mark.parametrize("family", gaussian.FAMILIES)
def test_entropy_split_and_token_entropies(family):
    cov = gaussian.covariance(3, family)
    ell = 32
    split = predictive.entropy_split(cov, ell)
    tokens = predictive.token_entropies(cov, ell)
    # float64 log-determinants of 64×64 matrices: identities to ~1e-12
    assert abs(split["residual"]) < 1e-10
    assert tokens["alone"].sum() == pytest.approx(split["H(Y)"], rel=1e-10)
    assert tokens["after_x"].sum() == pytest.approx(split["H(Y|X)"], rel=1e-10)
    np.testing.assert_allclose(tokens["alone"] - tokens["after_x"], gaussian.chain_rule_terms(cov, ell), atol=1e-12)
    # unit variances: the first token of Y read alone has the entropy of N(0, 1)
    assert tokens["alone"][0] == pytest.approx(0.5 * math.log(2 * math.pi * math.e), rel=1e-12)


def test_text_predictive_information_on_a_stationary_curve():
    """A curve that drops by 1 nat after the first token: Y alone pays it once, after X never: I = 1 nat."""
    nll = np.r_[3.0, np.full(15, 2.0)]
    assert predictive.text_predictive_information(nll, 16) == pytest.approx(1.0)
    assert predictive.text_predictive_information(np.full(16, 2.0), 8) == 0.0
    with pytest.raises(ValueError):
        predictive.text_predictive_information(nll, 32)
