"""l2m.estimators against exact Gaussian MI (chapter 06; NeurIPS version, Appx. B.V)."""
import math

import numpy as np
import pytest
import torch

from l2m import estimators, gaussian


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
