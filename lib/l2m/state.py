"""History states: how many numbers a model carries from the past, and what the data asks for.

The paper's L2M condition (Sec. 5, Appx. D) bounds the bipartite MI a model can capture by the
size of its *history state* z: everything a causal model keeps about tokens 1..ℓ when it goes
on to predict ℓ+1..L. For a transformer that is the KV cache, 2·n_layer·n_head·head_dim numbers
per past token, so it grows with ℓ; for an SSM it is the recurrent state of every layer,
constant in ℓ (SPEC §4). :func:`history_state` gives the formula, :func:`measured_state` counts
the numbers transformers actually keeps in its cache, and the tests check that the two agree.

For the Gaussian data the same questions have exact answers from the covariance Σ of one
channel (SPEC §4, "reference predictors"): the expected conditional KL of predicting with the
marginal N(0, 1) (:func:`marginal_kl`), with the best linear predictor that sees only the last
k tokens, a fixed window state (:func:`window_kl`), and the canonical correlations between past
and future, whose count at 99 % of I_BP is the minimal linear history state
(:func:`canonical_mi`, :func:`minimal_state_dim`). Chapter 04 draws these beside the trained
models; chapter 05 builds on them.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg
import torch

from .models import ModelConfig, SequenceModel


@dataclass(frozen=True)
class HistoryState:
    """Numbers a model keeps about the past of one sequence: ``fixed + per_token · tokens``."""

    fixed: int  # recurrent state (SSMs): does not grow with the context
    per_token: int  # KV cache (transformers): grows with every past token
    what: str  # what the numbers are, in words

    def at(self, tokens: int) -> int:
        """Size after ``tokens`` tokens of context."""
        return self.fixed + self.per_token * tokens


def history_state(cfg: ModelConfig) -> HistoryState:
    """The history state of a model by its formula (Appx. D).

    GPT2: keys and values of every layer, 2·n_layer·d_model per past token (n_head·head_dim = d_model).
    Mamba: per layer d_inner·d_state (SSM) + d_inner·(d_conv − 1) (the causal convolution's last inputs).
    Mamba2: per layer n_heads·head_dim·d_state (SSM) + conv_dim·(d_conv − 1), with
    conv_dim = d_inner + 2·n_groups·d_state (n_groups = 1): its convolution also runs over B and C.
    A learned position embedding makes a recurrent model keep its position too: one more number.
    """
    if cfg.arch == "gpt2":
        return HistoryState(0, 2 * cfg.n_layer * cfg.d_model, "KV cache")
    position = 1 if cfg.position_embedding else 0
    if cfg.arch == "mamba":
        per_layer = cfg.d_inner * cfg.d_state + cfg.d_inner * (cfg.d_conv - 1)
    else:
        conv_dim = cfg.d_inner + 2 * cfg.d_state
        per_layer = cfg.d_inner * cfg.d_state + conv_dim * (cfg.d_conv - 1)
    return HistoryState(cfg.n_layer * per_layer + position, 0, "SSM and convolution states")


def _cache_tensors(cache: object) -> list[torch.Tensor]:
    """Every tensor a transformers cache holds: keys/values (attention) or conv/recurrent states (SSMs)."""
    tensors = []
    for layer in getattr(cache, "layers", []):
        for name in ("keys", "values"):
            value = getattr(layer, name, None)
            if isinstance(value, torch.Tensor):
                tensors.append(value)
        for name in ("conv_states", "recurrent_states"):
            tensors += [v for v in (getattr(layer, name, None) or {}).values() if isinstance(v, torch.Tensor)]
    return tensors


@torch.no_grad()
def measured_state(model: SequenceModel, tokens: int) -> int:
    """Numbers per sequence in the cache transformers keeps after a pass over ``tokens`` tokens.

    transformers stores d_conv inputs of each convolution where d_conv − 1 suffice, so for the SSMs
    this is the formula plus one column per convolution channel (and without the position counter).
    """
    cfg = model.cfg
    device = next(model.parameters()).device
    shape = (1, tokens, cfg.channels) if cfg.task == "gaussian" else (1, tokens)
    inputs = torch.zeros(shape, device=device) if cfg.task == "gaussian" else torch.zeros(shape, dtype=torch.long,
                                                                                          device=device)
    was_training = model.training
    model.eval()
    try:
        out = model.hidden(inputs, use_cache=True)
    finally:
        model.train(was_training)
    cache = out.get("cache") or out.get("past_key_values")  # SSM outputs name it cache, GPT2 past_key_values
    return int(sum(t.numel() for t in _cache_tensors(cache)))


def conditional_std(cov: np.ndarray) -> np.ndarray:
    """Exact conditional standard deviation of z_t given z_<t: the Cholesky diagonal C_tt, (L,)."""
    return np.diag(scipy.linalg.cholesky(cov, lower=True, check_finite=False)).copy()


def marginal_kl(cov: np.ndarray) -> np.ndarray:
    """Expected KL_t of predicting N(0, 1) ("learned nothing"): −ln C_tt, (L,) (chapter 03).

    With Var z_t = 1 the expected KL is ln(1/σ_p) + (σ_p² + E μ_p²)/2 − ½ and E μ_p² = 1 − σ_p².
    """
    kl = -np.log(conditional_std(cov))
    return np.where(np.abs(kl) < 1e-12, 0.0, kl)  # exact zeros where rounding leaves ±1e-16 (t = 1)


def window_variance(cov: np.ndarray, k: int) -> np.ndarray:
    """Var(z_t | z_{t−k..t−1}): the error of the best linear predictor from the last ``k`` tokens, (L,)."""
    n = len(cov)
    if k == 0:
        return np.diag(cov).copy()  # no window: the marginal variance
    var = np.empty(n)
    var[: k + 1] = conditional_std(cov[: k + 1, : k + 1]) ** 2  # t ≤ k: the window holds the whole past
    if n > k + 1:
        t = np.arange(k + 1, n)
        window = t[:, None] - k + np.arange(k)[None, :]  # (n−k−1, k) indices of the last k tokens
        s_ww = cov[window[:, :, None], window[:, None, :]]  # (n−k−1, k, k)
        s_wt = cov[window, t[:, None]]  # (n−k−1, k)
        weights = np.linalg.solve(s_ww, s_wt[..., None])[..., 0]
        var[k + 1 :] = cov[t, t] - np.einsum("nk,nk->n", s_wt, weights)
    return var


def window_kl(cov: np.ndarray, k: int) -> np.ndarray:
    """Expected KL_t of the best linear predictor that sees only the last ``k`` tokens, (L,).

    That predictor is Gaussian with variance σ_k² ≥ σ_p² and, by orthogonality,
    E(μ_k − μ_p)² = σ_k² − σ_p², so its expected KL is ½ ln(σ_k² / σ_p²): zero where the window
    covers the whole past.
    """
    if k < 0:
        raise ValueError(f"the window k must be ≥ 0, not {k}")
    kl = 0.5 * np.log(window_variance(cov, k) / conditional_std(cov) ** 2)
    return np.where(kl < 1e-12, 0.0, kl)  # exact zeros where the window holds the whole past (rounding leaves ±1e-16)


def canonical_mi(cov: np.ndarray, ell: int) -> np.ndarray:
    """MI carried by each canonical pair between X = z[:ell] and Y = z[ell:], largest first.

    The canonical correlations ρ_i are the singular values of C_X⁻¹ Σ_XY C_Y⁻ᵀ (C the Cholesky
    factors); −½ ln(1 − ρ_i²) sums to I_BP(ell) exactly.
    """
    n = len(cov)
    if not 1 <= ell <= n - 1:
        raise ValueError(f"split position ell must be from 1 to {n - 1}, not {ell}")
    cx = scipy.linalg.cholesky(cov[:ell, :ell], lower=True, check_finite=False)
    cy = scipy.linalg.cholesky(cov[ell:, ell:], lower=True, check_finite=False)
    whitened = scipy.linalg.solve_triangular(cx, cov[:ell, ell:], lower=True, check_finite=False)
    whitened = scipy.linalg.solve_triangular(cy, whitened.T, lower=True, check_finite=False).T
    rho = np.clip(np.linalg.svd(whitened, compute_uv=False), 0.0, 1.0 - 1e-15)
    return -0.5 * np.log1p(-(rho**2))


def minimal_state_dim(cov: np.ndarray, ell: int, fraction: float = 0.99) -> int:
    """Fewest canonical pairs that carry ``fraction`` of I_BP(ell): a linear history state's size, per channel."""
    mi = canonical_mi(cov, ell)
    return int(np.searchsorted(np.cumsum(mi), fraction * mi.sum() * (1 - 1e-12)) + 1)


def gaussian_references(cov: np.ndarray, windows: tuple[int, ...] = (1, 4, 16)) -> dict[str, np.ndarray]:
    """Expected KL_t of the exact reference predictors that belong on every KL figure (SPEC §4), (L,) each.

    The marginal N(0, 1) and the best linear predictors from the last k tokens (k < L); the exact
    conditional, KL 0, is the floor of them all.
    """
    refs = {"N(0, 1): learned nothing": marginal_kl(cov)}
    for k in windows:
        if k < len(cov) - 1:
            refs[f"best linear, last {k} token{'s' if k > 1 else ''}"] = window_kl(cov, k)
    return refs
