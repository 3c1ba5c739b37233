"""l2m.gaussian against closed forms, brute-force conditionals and sampling (chapter 03)."""
import math

import numpy as np
import pytest
import torch

from l2m import chapters, gaussian
from l2m.params import ParameterError, validate

BOUNDARIES = (False, "sqrt", "cholesky")


def brute_force_mi(cov, ell):
    logdet = lambda a: np.linalg.slogdet(a)[1]
    return 0.5 * (logdet(cov[:ell, :ell]) + logdet(cov[ell:, ell:]) - logdet(cov))


def brute_force_conditionals(cov, z):
    """Schur complement: mean and std of z_t given z_<t, for one sequence z (L,)."""
    mean, std = np.zeros(len(z)), np.zeros(len(z))
    std[0] = math.sqrt(cov[0, 0])
    for t in range(1, len(z)):
        weights = np.linalg.solve(cov[:t, :t], cov[:t, t])
        mean[t] = weights @ z[:t]
        std[t] = math.sqrt(cov[t, t] - cov[t, :t] @ weights)
    return mean, std


def test_mixing_matrix_rows_unit_and_gram():
    m = gaussian.MIXING
    assert np.allclose(np.linalg.norm(m, axis=1), 1.0)
    assert np.allclose(m @ m.T, 1.25 * np.eye(4) - 0.25)


@pytest.mark.parametrize("layers", [1, 2, 3, 4, 5])
def test_tree_closed_form_power_family(layers):
    cov = gaussian.covariance(layers, "power", boundary=False)
    expected = 0.5 * math.log(9 / 5) * 3 ** (layers - 1)
    assert gaussian.bipartite_mi(cov, len(cov) // 2) == pytest.approx(expected, rel=1e-10)
    assert gaussian.tree_bipartite_mi(layers) == pytest.approx(expected, rel=1e-15)


def test_tree_log_family_is_constant():
    for layers in (1, 2, 3, 4):
        cov = gaussian.covariance(layers, "log", boundary=False)
        assert gaussian.bipartite_mi(cov, len(cov) // 2) == pytest.approx(0.5 * math.log(9 / 5), rel=1e-10)


@pytest.mark.parametrize("family", gaussian.FAMILIES)
@pytest.mark.parametrize("boundary", BOUNDARIES)
def test_positive_definite_unit_variance(family, boundary):
    for layers in (2, 3, 4, 5):
        cov = gaussian.covariance(layers, family, boundary)
        assert cov.shape == (4**layers, 4**layers)
        assert np.allclose(cov, cov.T, atol=1e-13)
        assert np.allclose(np.diag(cov), 1.0, atol=1e-12)
        assert np.linalg.eigvalsh(cov).min() > 1e-3


@pytest.mark.parametrize("family", gaussian.FAMILIES)
@pytest.mark.parametrize("boundary", ["sqrt", "cholesky"])
def test_boundary_step_sets_target_correlation(family, boundary):
    # layer 1 has no boundary step, so layer 2 without it is exactly the matrix the step acts on
    before = gaussian.covariance(2, family, boundary=False)
    after = gaussian.covariance(2, family, boundary=boundary)
    for i in range(3):
        a, b = 4 * i + 3, 4 * i + 4
        target = 0.4 * (before[a - 1, a] + before[b, b + 1]) + 0.2 * before[a, b]
        assert after[a, b] == pytest.approx(target, abs=1e-12)
    # variables outside the pairs keep their covariances with each other
    untouched = [t for t in range(16) if t % 4 in (1, 2) or t in (0, 15)]
    assert np.allclose(after[np.ix_(untouched, untouched)], before[np.ix_(untouched, untouched)])


def test_sqrt_and_cholesky_maps_differ_but_share_the_exponent():
    sqrt_mi = [gaussian.bipartite_mi(c := gaussian.covariance(l, "power", "sqrt"), len(c) // 2) for l in (4, 5)]
    chol_mi = [gaussian.bipartite_mi(c := gaussian.covariance(l, "power", "cholesky"), len(c) // 2) for l in (4, 5)]
    assert sqrt_mi[0] != pytest.approx(chol_mi[0], rel=1e-3)
    assert math.log(sqrt_mi[1] / sqrt_mi[0], 4) == pytest.approx(math.log(3, 4), abs=0.005)
    assert math.log(chol_mi[1] / chol_mi[0], 4) == pytest.approx(math.log(3, 4), abs=0.005)


def test_bipartite_mi_matches_determinants_at_every_split():
    cov = gaussian.covariance(3, "power")
    ells = np.arange(1, 64)
    fast = gaussian.bipartite_mi(cov, ells)
    assert np.allclose(fast, [brute_force_mi(cov, int(e)) for e in ells], rtol=1e-10, atol=1e-12)
    assert gaussian.bipartite_mi(cov, 32) == pytest.approx(brute_force_mi(cov, 32), rel=1e-12)
    with pytest.raises(ValueError, match="from 1 to 63"):
        gaussian.bipartite_mi(cov, 64)


def test_layer_one_and_two_point_closed_forms():
    cov = gaussian.covariance(1)
    assert gaussian.bipartite_mi(cov, 2) == pytest.approx(0.5 * math.log(9 / 5), rel=1e-13)
    assert gaussian.two_point_mi(cov, 0, 1) == pytest.approx(-0.5 * math.log(1 - 1 / 16), rel=1e-13)


@pytest.mark.parametrize("boundary", BOUNDARIES)
def test_antipodal_two_point_mi_equal_for_both_families(boundary):
    for layers in (2, 3, 4, 5):
        r = 0.25 * (5 / 16) ** (layers - 1)
        expected = -0.5 * math.log1p(-r * r)
        for family in gaussian.FAMILIES:
            cov = gaussian.covariance(layers, family, boundary)
            assert gaussian.two_point_mi(cov, 0, len(cov) - 1) == pytest.approx(expected, rel=1e-9)


def test_power_exponent_and_log_growth():
    table = gaussian.scaling_table(5, "power")
    ratios = table["bipartite_mi"][2:] / table["bipartite_mi"][1:-1]
    local_exponent = np.log(ratios) / np.log(4)  # approaches log_4 3 from above as L grows
    assert np.all(np.diff(local_exponent) < 0) and abs(local_exponent[-1] - math.log(3, 4)) < 0.002
    log_table = gaussian.scaling_table(5, "log")
    steps = np.diff(log_table["bipartite_mi"][1:])  # equal steps per layer: I grows linearly in ln L
    assert np.all(steps > 0.02) and np.ptp(steps) < 0.1 * steps.mean()


def test_covariance_rejects_bad_arguments():
    with pytest.raises(ValueError, match="from 1 to 7"):
        gaussian.covariance(0)
    with pytest.raises(ValueError, match="family"):
        gaussian.covariance(2, "cubic")
    with pytest.raises(ValueError, match="boundary"):
        gaussian.covariance(2, "power", "qr")


# Against a float64 Schur complement: float64 paths to 1e-10 (16 unknowns, κ(chol) ≈ 3: rounding ~1e-14); fp32
# paths to 2e-4, the forward error bound n·u·κ·|x| ≈ 16 · 6e-8 · 3 · 4 ≈ 1.1e-5 of a triangular solve with 16
# unknowns, values up to ~4 sd and κ(chol) = 3.0 (power) / 2.7 (log), with a ~17× margin.
@pytest.mark.numerics
@pytest.mark.parametrize("backend,dtype,tol", [("numpy", np.float64, 1e-10), ("torch", torch.float64, 1e-10),
                                                ("torch", torch.float32, 2e-4), ("numpy", np.float32, 2e-4)])
def test_sampler_conditionals_equal_schur_complement(backend, dtype, tol):
    cov = gaussian.covariance(2, "power")
    sampler = gaussian.GaussianSampler(cov, channels=3, backend=backend, dtype=dtype)
    generator = np.random.default_rng(1) if backend == "numpy" else torch.Generator().manual_seed(1)
    batch = sampler.sample(2, generator)
    as_np = lambda x: np.asarray(x.cpu() if backend == "torch" else x, dtype=np.float64)
    targets, mean, std = as_np(batch.targets), as_np(batch.mean), as_np(batch.std)
    assert targets.shape == (2, 16, 3) and std.shape == (16, 1)
    assert as_np(batch.inputs)[:, 0].max() == 0 and as_np(batch.inputs)[:, 0].min() == 0  # BOS
    assert np.array_equal(as_np(batch.inputs)[:, 1:], targets[:, :-1])
    for b in range(2):
        for c in range(3):
            ref_mean, ref_std = brute_force_conditionals(cov, targets[b, :, c])
            assert np.allclose(mean[b, :, c], ref_mean, atol=tol)
            assert np.allclose(std[:, 0], ref_std, atol=tol)


def test_sample_covariance_matches():
    cov = gaussian.covariance(2, "log")
    sampler = gaussian.GaussianSampler(cov, channels=64)
    z = sampler.sample(2000, np.random.default_rng(0)).targets  # 128,000 sequences of 16
    flat = z.transpose(0, 2, 1).reshape(-1, 16)
    empirical = flat.T @ flat / len(flat)
    assert np.abs(empirical - cov).max() < 0.02  # standard error about 0.004


def test_kl_zero_for_exact_positive_otherwise_and_closed_form():
    rng = np.random.default_rng(0)
    mean_p, std_p = rng.normal(size=(2, 5, 4)), rng.uniform(0.5, 1.5, size=(5, 1))
    assert np.allclose(gaussian.conditional_kl(mean_p, std_p, mean_p, std_p), 0)
    mean_q, std_q = mean_p + 0.3, std_p * 1.2
    kl = gaussian.conditional_kl(mean_q, std_q, mean_p, std_p)
    assert kl.shape == (2, 5) and np.all(kl > 0)
    reference = torch.distributions.kl_divergence(
        torch.distributions.Normal(torch.tensor(mean_p), torch.tensor(std_p)),
        torch.distributions.Normal(torch.tensor(mean_q), torch.tensor(std_q)),
    ).mean(-1)
    assert np.allclose(kl, reference.numpy(), rtol=1e-12)
    torch_kl = gaussian.conditional_kl(torch.tensor(mean_q), torch.tensor(std_q), torch.tensor(mean_p), torch.tensor(std_p))
    assert np.allclose(torch_kl.numpy(), kl, rtol=1e-12)


def test_marginal_prediction_kl_is_minus_log_conditional_std():
    cov = gaussian.covariance(2, "power")
    sampler = gaussian.GaussianSampler(cov, channels=256)
    batch = sampler.sample(200, np.random.default_rng(3))
    kl = gaussian.conditional_kl(np.zeros_like(batch.mean), np.ones_like(batch.std), batch.mean, batch.std)
    expected = -np.log(sampler.std[:, 0])
    assert np.allclose(kl.mean(0), expected, atol=0.01)
    half_logdet = 0.5 * np.linalg.slogdet(cov)[1]
    assert expected.sum() == pytest.approx(-half_logdet, rel=1e-10)


def test_chapter_parameters_validate():
    cfg = validate(chapters.GaussianChapter, layers=5, family="log")
    assert cfg.layers == 5 and cfg.family == "log" and cfg.channels == 64
    with pytest.raises(ParameterError, match=r"layers = 0 is not allowed: use an integer from 1 to 7"):
        validate(chapters.GaussianChapter, layers=0)
    with pytest.raises(ParameterError, match=r"family = 'cubic' .* one of 'power', 'log'"):
        validate(chapters.GaussianChapter, family="cubic")


@pytest.mark.gpu
def test_sampler_on_cuda_matches_cpu():
    cov = gaussian.covariance(3, "power")
    cpu = gaussian.GaussianSampler(cov, channels=8, backend="torch", dtype=torch.float64)
    gpu = gaussian.GaussianSampler(cov, channels=8, backend="torch", device="cuda", dtype=torch.float64)
    eps_batch = gpu.sample(4, torch.Generator(device="cuda").manual_seed(0))
    assert eps_batch.mean.device.type == "cuda"
    # same draw on both devices: recover ε from the GPU sample and replay it on the CPU factor
    z = eps_batch.targets.cpu()
    eps = torch.linalg.solve_triangular(cpu.chol, z, upper=False)
    assert torch.allclose(cpu.chol @ eps - cpu.std * eps, eps_batch.mean.cpu(), atol=1e-10)


def test_averaged_two_point_mi_matches_a_loop_and_the_review_values():
    """Numbers checked in review, L = 1024 (not the paper's: Appx. C says the families share two-point scaling):
    they share only the antipodal pair's two-point MI."""
    expected = {"power": (2.35e-2, 2.06e-2, 1.69e-2), "log": (2.24e-3, 2.17e-4, 2.36e-6)}  # d = 4, 16, 256
    antipodal = []
    for family in gaussian.FAMILIES:
        cov = gaussian.covariance(5, family)
        got = gaussian.averaged_two_point_mi(cov, np.array([4, 16, 256]))
        np.testing.assert_allclose(got, expected[family], rtol=6e-3)
        for d in (1, 3, 64, 1000):  # brute force: one pair at a time
            loop = np.mean([gaussian.two_point_mi(cov, i, i + d) for i in range(len(cov) - d)])
            assert gaussian.averaged_two_point_mi(cov, d) == pytest.approx(loop, rel=1e-12)
        antipodal.append(gaussian.averaged_two_point_mi(cov, len(cov) - 1))
    assert antipodal[0] == pytest.approx(2.842e-6, rel=1e-3) and antipodal[0] == pytest.approx(antipodal[1], rel=1e-12)


def test_averaged_two_point_mi_rejects_bad_distances_and_scales_any_covariance():
    cov = gaussian.covariance(2)
    with pytest.raises(ValueError, match="from 1 to 15"):
        gaussian.averaged_two_point_mi(cov, 16)
    with pytest.raises(ValueError, match="from 1 to 15"):
        gaussian.averaged_two_point_mi(cov, np.array([0, 1]))
    scale = np.diag(np.linspace(0.5, 2.0, len(cov)))  # MI is invariant to rescaling each variable
    d = np.arange(1, 16)
    np.testing.assert_allclose(gaussian.averaged_two_point_mi(scale @ cov @ scale, d),
                               gaussian.averaged_two_point_mi(cov, d), rtol=1e-12)


def test_chapter_two_point_profiles(tmp_path, monkeypatch):
    monkeypatch.setenv("L2M_CACHE", str(tmp_path))
    profiles = gaussian.chapter_two_point_profiles(3)
    assert list(profiles["distance"]) == list(range(1, 64))
    assert profiles["power"][-1] == pytest.approx(profiles["log"][-1], rel=1e-12)  # the antipodal pair
    assert np.all(profiles["power"][:-1] != profiles["log"][:-1])
