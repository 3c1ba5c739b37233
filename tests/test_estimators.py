"""l2m.estimators against exact Gaussian MI (chapter 06; NeurIPS version, Appx. B.V)."""
import math

import numpy as np
import pytest
import torch

from l2m import claims, estimator_claims, estimators, gaussian


def pair(rho):
    return estimators.SplitSampler(np.array([[1.0, rho], [rho, 1.0]]), 1)


def test_split_sampler_exact_and_covariance():
    cov = gaussian.covariance(2, "power")
    sampler = estimators.SplitSampler(cov, 8)
    assert sampler.exact == gaussian.bipartite_mi(cov, 8)
    x, y = sampler.sample(20000, np.random.default_rng(0))
    z = np.hstack([x, y])
    # sample covariance of 20000 draws of unit-variance variables: sd of an entry ≈ 1/√20000 ≈ 0.007, 6 sd
    assert np.abs(z.T @ z / len(z) - cov).max() < 0.045


def test_ksg_matches_a_two_dimensional_gaussian():
    sampler = pair(0.9)
    x, y = sampler.sample(5000, np.random.default_rng(1))
    # Kraskov et al. (2004), Fig. 4: at N = 5000 KSG's bias and sd for a correlated pair are ~0.01 nats each
    assert estimators.ksg(x, y, k=3) == pytest.approx(sampler.exact, abs=0.05)


def test_ksg_of_independent_variables_is_near_zero():
    rng = np.random.default_rng(2)
    x, y = rng.standard_normal((2000, 2)), rng.standard_normal((2000, 2))
    # KSG is nearly unbiased at I = 0 (Kraskov et al. 2004, Sec. IV): |Î| below a few hundredths at N = 2000
    assert abs(estimators.ksg(x, y)) < 0.03


def test_infonce_is_bounded_by_ln_k():
    rng = torch.Generator().manual_seed(0)
    scores = 50 * torch.randn(64, 64, generator=rng)
    assert estimators.infonce(scores).item() <= math.log(64) + 1e-6
    # a critic that tells every joint pair apart reaches ln K and no more
    assert estimators.infonce(1e4 * torch.eye(16)).item() == pytest.approx(math.log(16), abs=1e-6)


def test_nwj_with_the_exact_critic_is_unbiased():
    """f = 1 + ln p(x, y)/(p(x) p(y)) gives E_p[f] − e^{−1} E_q[e^f] = 1 + I − 1 = I."""
    rho, k = 0.5, 256
    sampler = pair(rho)
    rng = np.random.default_rng(3)
    values = []
    for _ in range(200):
        x, y = (torch.as_tensor(a[:, 0]) for a in sampler.sample(k, rng))
        log_ratio = (-0.5 * math.log(1 - rho**2) - (x[:, None]**2 + y[None, :]**2 - 2 * rho * x[:, None] * y[None, :])
                     / (2 * (1 - rho**2)) + (x[:, None]**2 + y[None, :]**2) / 2)
        values.append(estimators.nwj(1 + log_ratio).item())
    values = np.array(values)
    se = values.std(ddof=1) / math.sqrt(len(values))
    assert abs(values.mean() - sampler.exact) < 4 * se  # Monte Carlo only: the estimator is unbiased here


def test_infonce_recovers_a_small_mi_with_a_learned_critic():
    sampler = pair(0.5)  # I = 0.144 nats, far below ln 128 = 4.85
    result = estimators.critic_estimate(sampler, "infonce", 128, 300, seed=0, eval_batches=64, hidden=64, embed=16)
    # within 3 standard errors of the held-out mean; the bound's own bias is small when I ≪ ln K (Poole et al. 2019)
    assert abs(result.estimate - sampler.exact) < 3 * result.stderr
    assert result.estimate <= math.log(128)


def test_critic_rejects_an_unknown_bound():
    with pytest.raises(ValueError):
        estimators.critic_estimate(pair(0.5), "mine", 16, 1)


def table(**over):
    """A chapter-06 comparison table as the estimators would return it, at L = 16 and 1024."""
    base = {"seq_len": np.array([16, 1024]), "exact": np.array([0.9, 24.7]), "batches": np.array([16, 256]),
            "infonce": np.array([[0.7, 1.7], [0.85, 5.3]]), "infonce_se": np.full((2, 2), 0.02),
            "nwj": np.array([[0.7, -20.0], [0.72, 1.0], [0.69, -70.0]]), "nwj_se": np.full((3, 2), 0.02),
            "ksg": np.array([[0.40, 0.12], [0.42, 0.10]])}
    return base | over


def test_estimator_rows_hold_on_the_measured_pattern():
    rows = estimator_claims.estimator_rows(table())
    assert [r.verdict for r in rows] == [claims.HOLDS] * 4


def test_estimator_rows_fail_on_constructed_wrong_results():
    over_ln_k = estimator_claims.estimator_rows(table(infonce=np.array([[3.0, 1.7], [0.85, 5.3]])))[0]
    assert over_ln_k.verdict == claims.FAILS  # 3.0 > ln 16
    reaches = estimator_claims.estimator_rows(table(infonce=np.array([[0.7, 1.7], [0.85, 30.0]])))[1]
    assert reaches.verdict == claims.FAILS  # an estimate above I_BP does not fall short of it
    good_knn = estimator_claims.estimator_rows(table(ksg=np.array([[0.40, 24.0], [0.42, 24.2]])))[2]
    assert good_knn.verdict == claims.FAILS  # relative error 0.02 at L = 1024 against 0.54 at L = 16
    steady = estimator_claims.estimator_rows(table(nwj=np.array([[0.7, 20.0], [0.72, 20.1], [0.69, 19.9]])))[3]
    assert steady.verdict == claims.FAILS  # the same spread at both L


def test_exact_rows_fail_when_the_chain_rule_misses():
    good = {"power": {"I_BP (chain rule)": 8.2, "two-point sum": 14.7, "ratio": 1.79, "residual": 1e-14}}
    split = {"H(Y)": 100.0, "H(Y|X)": 91.8, "I(X;Y)": 8.2, "residual": 1e-13}
    assert [r.verdict for r in estimator_claims.exact_rows(good, split, 256)] == [claims.HOLDS] * 2
    bad = {"power": good["power"] | {"residual": 1e-3}}
    assert estimator_claims.exact_rows(bad, split | {"residual": 0.1}, 256)[0].verdict == claims.FAILS
    assert estimator_claims.exact_rows(bad, split | {"residual": 0.1}, 256)[1].verdict == claims.FAILS
    same = {"power": good["power"] | {"ratio": 1.0}}
    assert estimator_claims.exact_rows(same, split, 256)[0].verdict == claims.FAILS
