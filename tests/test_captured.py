"""l2m.captured: the direct captured-MI estimate against its exact expectation I_BP − Σ_{t>ell} KL_t."""
import numpy as np
import pytest
import scipy.linalg
import scipy.stats
import torch

from l2m import captured, gaussian, references

ELL = 32  # equal split of L = 64


@pytest.fixture(scope="module")
def data():
    cov = gaussian.covariance(3, "power")  # L = 64
    batch = gaussian.GaussianSampler(cov, channels=16).sample(4000, np.random.default_rng(0))
    return cov, batch


def assert_estimates(estimate, stderr, expected, atol):
    assert abs(estimate - expected) < 4 * stderr, (estimate, stderr, expected)
    assert abs(estimate - expected) < atol, (estimate, stderr, expected)


def test_log_marginal_density_matches_scipy():
    cov = gaussian.covariance(2, "power")[8:, 8:]  # (8, 8)
    y = np.random.default_rng(2).standard_normal((3, 8, 2))  # (B, n, C)
    ours = captured.log_marginal_density(y, cov)
    scipys = scipy.stats.multivariate_normal(np.zeros(8), cov).logpdf(y.transpose(0, 2, 1))  # (B, C)
    assert np.allclose(ours, scipys, rtol=1e-12)


def test_exact_conditional_captures_all_of_the_bipartite_mi(data):
    cov, batch = data
    estimate, stderr = captured.captured_mi(batch.mean, batch.std, batch.targets, cov, ELL)
    assert_estimates(estimate, stderr, gaussian.bipartite_mi(cov, ELL), atol=0.03)  # I_BP = 2.73 nats
    zero = np.zeros(len(cov))
    assert captured.expected_captured_mi(cov, ELL, zero) == gaussian.bipartite_mi(cov, ELL)


@pytest.mark.parametrize("predictor", ["marginal", "window 4", "position-blind"])
def test_reference_predictors_capture_i_bp_minus_their_kl(data, predictor):
    cov, batch = data
    if predictor == "marginal":
        mean, std, kl = np.zeros_like(batch.targets), 1.0, references.marginal_kl(cov)
    elif predictor == "window 4":
        mean, std = captured.window_predictions(cov, 4, batch.targets)
        kl = references.window_kl(cov, 4)
    else:
        mean, std = captured.position_blind_predictions(cov, batch.targets)
        kl = references.position_blind_kl(cov)
    estimate, stderr = captured.captured_mi(mean, std, batch.targets, cov, ELL)
    assert_estimates(estimate, stderr, captured.expected_captured_mi(cov, ELL, kl), atol=0.05)


class ExactConditional(torch.nn.Module):
    """μ_t = Σ_{s<t} A_ts z_s with A = I − diag(C) C⁻¹, read from the BOS-shifted inputs."""

    def __init__(self, cov: np.ndarray):
        super().__init__()
        chol = scipy.linalg.cholesky(cov, lower=True)
        weights = np.eye(len(cov)) - np.diag(chol)[:, None] * np.linalg.inv(chol)  # (L, L) on targets z_1..z_L
        shifted = np.zeros_like(weights)
        shifted[:, 1:] = weights[:, :-1]  # inputs[:, s + 1] holds targets[:, s]
        self.register_buffer("weights", torch.tensor(shifted, dtype=torch.float32))
        self.register_buffer("std", torch.tensor(np.diag(chol)[:, None], dtype=torch.float32))

    def forward(self, inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean = self.weights @ inputs  # (L, L) @ (B, L, C)
        return mean, self.std.expand_as(mean)


@pytest.mark.numerics
def test_measure_captured_mi_of_an_exact_model():
    cov = gaussian.covariance(3, "power")
    model = ExactConditional(cov)
    batch = gaussian.GaussianSampler(cov, channels=4, backend="torch").sample(3, torch.Generator().manual_seed(0))
    mean, std = model(batch.inputs)
    # fp32 mat-vec of 64 terms against the sampler's fp32 triangular solve: each within 64 · 6e-8 · Σ|w·x| (≲ 10)
    # ≈ 4e-5 of the exact mean; 1e-4 bounds their difference
    assert torch.allclose(mean, batch.mean, atol=1e-4) and torch.allclose(std, batch.std.expand_as(mean))
    estimate, stderr = captured.measure_captured_mi(model, cov, channels=16, ell=ELL, n_sequences=1024, chunk=256)
    assert_estimates(estimate, stderr, gaussian.bipartite_mi(cov, ELL), atol=0.05)
    again = [captured.measure_captured_mi(model, cov, 16, ELL, 16, seed=seed) for seed in (3, 3, 4)]
    assert again[0] == again[1] != again[2]  # the seed fixes the sequences
