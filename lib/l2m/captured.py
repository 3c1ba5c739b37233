"""The likelihood gain: how much of I_BP a model's predictions of Y use (NeurIPS Sec. 5 and Fig. 3; Appx. C).

The paper's theorem (NeurIPS Thm. 5.4; Thm. 5.2 of the first version) bounds the captured MI I_q = I(X; Ŷ)
of a model's own continuations Ŷ, which is never negative. What can be measured on a trained model with the
exact Gaussian marginal is a different quantity, the **likelihood gain**. With X = z_1..z_ell, Y =
z_{ell+1}..z_L, a causal model q and the exact marginal p(Y) = N(0, Σ_YY),

    G = E_p[ln q(Y|X) − ln p(Y)],   ln q(Y|X) = Σ_{t>ell} ln N(z_t; μ_q,t, σ_q,t²),

where each μ_q,t, σ_q,t may use X and the earlier Y (the model reads the whole prefix). Its
expectation is exact: by the chain rule ln p(Y|X) = Σ_{t>ell} ln p(z_t | z_<t), so

    E[ln q(Y|X) − ln p(Y)] = E[ln p(Y|X) − ln p(Y)] + Σ_{t>ell} E[ln q(z_t|·) − ln p(z_t|z_<t)]
                           = I_BP(ell) − Σ_{t>ell} KL_t,

with KL_t the expected conditional KL of Fig. 3 (Fig. 4 of the first version). G is the Barber–Agakov lower
bound on I_BP with q as decoder: it charges every nat lost on Y, the within-Y predictions included, so it
can be negative (the marginal N(0, 1), which is not even the right p(Y), has G < 0). The exact conditional
reaches all of I_BP, and a window or a position-blind predictor something in between. Channels are
independent copies, so the estimate is per channel (nats) and its expectation is the same for any number
of channels. The function names keep the older word "captured".
"""
from __future__ import annotations

from typing import Any

import numpy as np
import scipy.linalg
import torch

from .gaussian import GaussianSampler, bipartite_mi
from .references import position_blind_predictor, window_variance, window_weights

LOG_2PI = float(np.log(2 * np.pi))


def _numpy(x: Any) -> np.ndarray:
    """float64 numpy copy of a numpy array or torch tensor (any device)."""
    if isinstance(x, torch.Tensor):
        return x.detach().to("cpu", torch.float64).numpy()
    return np.asarray(x, dtype=np.float64)


def log_marginal_density(y: Any, cov_yy: np.ndarray) -> np.ndarray:
    """ln N(y; 0, Σ_YY) per sequence and channel: y (B, n, C) → (B, C), float64.

    With Σ_YY = C Cᵀ (Cholesky) and u = C⁻¹ y: ln N = −½|u|² − Σ ln C_ii − (n/2) ln 2π.
    """
    y = _numpy(y)
    batch, n, channels = y.shape
    chol = scipy.linalg.cholesky(cov_yy, lower=True, check_finite=False)
    flat = y.transpose(1, 0, 2).reshape(n, batch * channels)  # (n, B·C): one column a sequence-channel
    white = scipy.linalg.solve_triangular(chol, flat, lower=True, check_finite=False)  # (n, B·C)
    log_det = np.log(np.diag(chol)).sum()
    return (-0.5 * (white**2).sum(0) - log_det - 0.5 * n * LOG_2PI).reshape(batch, channels)


def pointwise_captured_mi(mean_q: Any, std_q: Any, targets: Any, cov: np.ndarray, ell: int) -> np.ndarray:
    """ln q(Y|X) − ln p(Y) for every sequence and channel, (B, C) float64.

    ``mean_q`` (B, L, C) and ``std_q`` (broadcastable to it) are the model's predictions of
    ``targets`` (B, L, C) = z_1..z_L (index i predicts targets[:, i]); Y = targets[:, ell:].
    """
    n = len(cov)
    if not 1 <= ell <= n - 1:
        raise ValueError(f"split position ell must be from 1 to {n - 1}, not {ell}")
    targets = _numpy(targets)
    mean_q = _numpy(mean_q)[:, ell:]  # (B, L−ell, C)
    std_q = np.broadcast_to(_numpy(std_q), targets.shape)[:, ell:]  # (B, L−ell, C)
    y = targets[:, ell:]  # (B, L−ell, C)
    log_q = (-np.log(std_q) - 0.5 * ((y - mean_q) / std_q) ** 2 - 0.5 * LOG_2PI).sum(1)  # (B, C)
    return log_q - log_marginal_density(y, cov[ell:, ell:])


def _mean_and_stderr(values: np.ndarray) -> tuple[float, float]:
    """Mean and its standard error over independent draws (sequences × channels)."""
    values = np.ravel(values)
    return float(values.mean()), float(values.std(ddof=1) / np.sqrt(len(values)))


def captured_mi(mean_q: Any, std_q: Any, targets: Any, cov: np.ndarray, ell: int) -> tuple[float, float]:
    """Direct estimate of the likelihood gain G = mean of ln q(Y|X) − ln p(Y) and its standard error, nats per channel.

    Sequences and channels are independent draws, so the mean and standard error run over both.
    Its expectation is :func:`expected_captured_mi` (module docstring).
    """
    return _mean_and_stderr(pointwise_captured_mi(mean_q, std_q, targets, cov, ell))


def expected_captured_mi(cov: np.ndarray, ell: int, kl_per_position: np.ndarray) -> float:
    """E G = I_BP(ell) − Σ_{t>ell} KL_t, for a predictor whose expected KL_t is ``kl_per_position`` (L,)."""
    return float(bipartite_mi(cov, ell) - np.asarray(kl_per_position)[ell:].sum())


def measure_captured_mi(model: torch.nn.Module, cov: np.ndarray, channels: int, ell: int, n_sequences: int,
                        seed: int = 0, device: str = "cpu", chunk: int = 8) -> tuple[float, float]:
    """Likelihood gain of a trained model on fresh Gaussian sequences: (estimate, stderr), nats per channel.

    ``model(inputs)`` maps the BOS-shifted inputs (B, L, C) to (mean, std), each (B, L, C). The
    sequences are drawn ``chunk`` at a time from a torch.Generator seeded by ``seed``, so two
    models measured with the same seed see the same sequences.
    """
    sampler = GaussianSampler(cov, channels, backend="torch", device=device)
    generator = torch.Generator(device=device).manual_seed(seed)
    values = []
    with torch.no_grad():
        for start in range(0, n_sequences, chunk):
            batch = sampler.sample(min(chunk, n_sequences - start), generator)
            mean, std = model(batch.inputs)  # (b, L, C) each
            values.append(pointwise_captured_mi(mean, std, batch.targets, cov, ell))  # (b, C)
    return _mean_and_stderr(np.concatenate(values))


def window_predictions(cov: np.ndarray, k: int, targets: Any) -> tuple[np.ndarray, np.ndarray]:
    """Predictions of the best linear predictor from the last ``k`` tokens: mean (B, L, C), std (L, 1).

    A reference that is neither exact nor marginal: its expected KL is references.window_kl.
    """
    mean = window_weights(cov, k) @ _numpy(targets)  # (L, L) @ (B, L, C): μ_t from z_{t−k..t−1}
    return mean, np.sqrt(window_variance(cov, k))[:, None]


def position_blind_predictions(cov: np.ndarray, targets: Any) -> tuple[np.ndarray, np.ndarray]:
    """Predictions of the best position-blind linear predictor: mean (B, L, C), std (1, 1).

    The same causal convolution of the zero-padded past at every position and one σ
    (references.position_blind_predictor); its expected KL is references.position_blind_kl.
    """
    weights, variance = position_blind_predictor(cov)
    lag = np.arange(len(cov))[:, None] - np.arange(len(cov))[None, :]  # (L, L) t − s
    toeplitz = np.where(lag >= 1, np.concatenate([[0.0], weights])[np.maximum(lag, 0)], 0.0)  # W[t, s] = w_{t−s}
    return toeplitz @ _numpy(targets), np.full((1, 1), np.sqrt(variance))
