"""The two Gaussian families of the paper's Appendix C, exactly (chapter 03).

Both families are built by a 4-ary tree: layer 1 is ``Y = M X`` (L = 4), and layer l mixes
rows of copies of layer l-1 with fresh normals, so L = 4**l. The *power* family carries three
copies of the layer below per row and its bipartite MI grows as a power law (β = log_4 3);
the *log* family carries one copy and its bipartite MI grows like ln L. Both have the same
two-point MI between the variables at maximum separation (the antipodal pair, the paper's
Sec. 4.4) and only there: averaged over positions at a fixed distance d < L − 1 the two-point
MI differs between the families by orders of magnitude (:func:`averaged_two_point_mi`).
Everything here is computed from the covariance Σ in float64.

Data for training (chapter 04) stacks independent copies of one family as channels: token t
is a vector in R^channels, with an all-zero BOS token prepended. With Σ = C Cᵀ (Cholesky) and
z = C ε, the exact conditional of token t given its past is N(z_t − C_tt ε_t, C_tt²).
"""
from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.linalg
from tqdm import tqdm

from . import cache

GAMMA = math.sqrt(5) / 4  # entries of the first three columns of M
RHO = 1 / 4  # entries of the last column of M
MIXING = np.array(
    [
        [GAMMA, GAMMA, GAMMA, RHO],
        [-GAMMA, GAMMA, -GAMMA, RHO],
        [-GAMMA, -GAMMA, GAMMA, RHO],
        [GAMMA, -GAMMA, -GAMMA, RHO],
    ]
)  # rows have unit norm and M Mᵀ = (5/4) I − (1/4) J, so every variable has variance 1
FAMILIES = ("power", "log")
BOUNDARY_MAPS = ("sqrt", "cholesky")  # the 2×2 maps of the boundary step; "sqrt" is the book's choice
MAX_LAYERS = 7  # L = 16384: Σ takes 2 GiB in float64, the largest that fits 24 GB with room to work
CARRIED_COPIES = {"power": 3, "log": 1}  # columns of a row that hold copies of the layer below


def _boundary_map_name(boundary: bool | str) -> str | None:
    if boundary is True:
        return "sqrt"
    if boundary is False or boundary is None:
        return None
    if boundary in BOUNDARY_MAPS:
        return boundary
    raise ValueError(f"boundary must be True, False or one of {BOUNDARY_MAPS}, not {boundary!r}")


def _pair_map(c_old: np.ndarray, c_new: np.ndarray, kind: str) -> np.ndarray:
    """Linear maps T (batch of 2×2) with T C_old Tᵀ = C_new, for batches of 2×2 covariances."""
    if kind == "cholesky":
        return np.linalg.cholesky(c_new) @ np.linalg.inv(np.linalg.cholesky(c_old))

    def sqrtm(c: np.ndarray, power: float) -> np.ndarray:  # symmetric matrix power by eigh, (m, 2, 2)
        w, v = np.linalg.eigh(c)
        return (v * w[:, None, :] ** power) @ np.swapaxes(v, 1, 2)

    return sqrtm(c_new, 0.5) @ sqrtm(c_old, -0.5)


def _boundary_step(sigma: np.ndarray, kind: str) -> np.ndarray:
    """Couple the last variable of each row with the first of the next (Appx. C), in place.

    The target correlation is (2/5)[corr(Z_i3, Z_i4) + corr(Z_{i+1,1}, Z_{i+1,2})] + (1/5) corr_old,
    all taken before the step. Writing it straight into Σ makes Σ indefinite; instead every pair
    is moved by a 2×2 linear map of the variables, which keeps Σ a covariance. The pairs are
    disjoint, so all maps apply at once: Σ ← T Σ Tᵀ with T block-diagonal on the pairs.
    """
    n_rows = len(sigma) // 4
    left = 4 * np.arange(n_rows - 1) + 3  # Z_{i,4} (0-based column 3)
    right = left + 1  # Z_{i+1,1}
    std = np.sqrt(np.diag(sigma))
    corr = lambda a, b: sigma[a, b] / (std[a] * std[b])
    target = 0.4 * (corr(left - 1, left) + corr(right, right + 1)) + 0.2 * corr(left, right)
    c_old = np.empty((len(left), 2, 2))
    c_old[:, 0, 0], c_old[:, 1, 1] = sigma[left, left], sigma[right, right]
    c_old[:, 0, 1] = c_old[:, 1, 0] = sigma[left, right]
    c_new = c_old.copy()
    c_new[:, 0, 1] = c_new[:, 1, 0] = target * std[left] * std[right]
    t = _pair_map(c_old, c_new, kind)  # (pairs, 2, 2)
    for axis in (0, 1):  # rows then columns: Σ ← T Σ, then Σ ← Σ Tᵀ
        view = sigma if axis == 0 else sigma.T
        a, b = view[left].copy(), view[right]  # (pairs, L) each
        view[left] = t[:, 0, 0, None] * a + t[:, 0, 1, None] * b
        view[right] = t[:, 1, 0, None] * a + t[:, 1, 1, None] * b
    return sigma


def covariance(layers: int, family: str = "power", boundary: bool | str = True) -> np.ndarray:
    """Covariance Σ (L×L, L = 4**layers, float64) of one channel of a Gaussian family (Appx. C).

    ``family`` is "power" (three copies of the layer below per row) or "log" (one copy).
    ``boundary`` is True (the symmetric-square-root map, the book's choice), "cholesky"
    (the other map of the chapter's comparison) or False (the plain tree).

    Row i of layer l holds the carried copies and fresh normals; with P = M_c M_cᵀ over the
    carried columns and Q over the fresh ones, flattening row by row gives
    Σ_l = Σ_{l−1} ⊗ P + I ⊗ Q.
    """
    if not (isinstance(layers, (int, np.integer)) and 1 <= layers <= MAX_LAYERS):
        raise ValueError(f"layers must be an integer from 1 to {MAX_LAYERS}, not {layers!r}")
    if family not in FAMILIES:
        raise ValueError(f"family must be one of {FAMILIES}, not {family!r}")
    kind = _boundary_map_name(boundary)
    copies = CARRIED_COPIES[family]
    carried, fresh = MIXING[:, :copies], MIXING[:, copies:]
    p, q = carried @ carried.T, fresh @ fresh.T
    sigma = MIXING @ MIXING.T
    for _ in range(2, layers + 1):
        n = len(sigma)
        sigma = np.kron(sigma, p)
        blocks = sigma.reshape(n, 4, n, 4)
        rows = np.arange(n)
        blocks[rows, :, rows, :] += q  # I ⊗ Q without a dense identity
        if kind is not None:
            sigma = _boundary_step(sigma, kind)
    return sigma


def correlation(cov: np.ndarray) -> np.ndarray:
    """Correlation matrix of a covariance matrix."""
    std = np.sqrt(np.diag(cov))
    return cov / np.outer(std, std)


def _leading_logdets(cov: np.ndarray) -> np.ndarray:
    """ln det Σ[:k, :k] for k = 0..L from one Cholesky factor (its diagonal's prefix sums)."""
    chol = scipy.linalg.cholesky(cov, lower=True, check_finite=False)
    return np.concatenate([[0.0], 2 * np.cumsum(np.log(np.diag(chol)))])


def bipartite_mi(cov: np.ndarray, ell: Any) -> Any:
    """Exact I(X; Y) in nats for X = Z[:ell], Y = Z[ell:]: ½[ln det Σ_X + ln det Σ_Y − ln det Σ].

    ``ell`` may be an int or an array of split positions (returns float or array). Two Cholesky
    factorisations give every split at once: the prefix log-dets of Σ and of Σ reversed.
    """
    n = len(cov)
    ells = np.asarray(ell)
    if ells.dtype.kind not in "iu" or np.any(ells < 1) or np.any(ells > n - 1):
        raise ValueError(f"split position ell must be an integer from 1 to {n - 1}, got {ell!r}")
    prefix = _leading_logdets(cov)
    suffix = _leading_logdets(np.ascontiguousarray(cov[::-1, ::-1]))
    mi = 0.5 * (prefix[ells] + suffix[n - ells] - prefix[n])
    return float(mi) if np.ndim(ell) == 0 else mi


def conditional_std(cov: np.ndarray) -> np.ndarray:
    """Exact conditional standard deviation of z_t given z_<t: the Cholesky diagonal C_tt, (L,)."""
    return np.diag(scipy.linalg.cholesky(cov, lower=True, check_finite=False)).copy()


def chain_rule_terms(cov: np.ndarray, ell: int) -> np.ndarray:
    """Exact I(X; w_t | w_{ell+1..t−1}) for every t in Y = Z[ell:], nats per channel, shape (L − ell,).

    The chain rule (NeurIPS version, Appx. B.VIII) splits I_BP into one conditional term per token of Y,
    I(X; Y) = Σ_{t in Y} I(X; w_t | w_{ell+1..t−1}): what the past X adds to the prediction of w_t once Y's own
    earlier tokens are known, H(w_t | w_{ell+1..t−1}) − H(w_t | w_{1..t−1}). For Gaussians both entropies are
    ½ ln(2πe σ²) with σ the Cholesky diagonal, of Σ_YY for the first and of Σ for the second, so a term is
    ln(D_tt / C_tt), and the terms sum to :func:`bipartite_mi` (½ ln det Σ_YY − ½ ln det Σ + ½ ln det Σ_XX).
    """
    n = len(cov)
    if not (isinstance(ell, (int, np.integer)) and 1 <= ell <= n - 1):
        raise ValueError(f"split position ell must be an integer from 1 to {n - 1}, got {ell!r}")
    return np.log(conditional_std(cov[ell:, ell:])) - np.log(conditional_std(cov)[ell:])



def two_point_mi(cov: np.ndarray, i: int, j: int) -> float:
    """Exact I(Z_i; Z_j) = −½ ln(1 − r²) of two jointly Gaussian variables, in nats."""
    r = cov[i, j] / math.sqrt(cov[i, i] * cov[j, j])
    return -0.5 * math.log1p(-r * r)


def averaged_two_point_mi(cov: np.ndarray, d: Any) -> Any:
    """Two-point MI at distance d averaged over positions: mean_i −½ ln(1 − r²_{i,i+d}), in nats.

    The paper's Sec. 4.4 says the two families share the two-point MI between the variables at
    maximum separation; at d = L − 1 there is one pair, the antipodal one, and the families agree.
    At any shorter distance the average differs between them by orders of magnitude (chapter 03).
    ``d`` may be an int (returns float) or an array of distances from 1 to L − 1 (returns array).
    """
    n = len(cov)
    ds = np.asarray(d)
    if ds.dtype.kind not in "iu" or np.any(ds < 1) or np.any(ds > n - 1):
        raise ValueError(f"distance d must be an integer from 1 to {n - 1}, got {d!r}")
    std = np.sqrt(np.diag(cov))  # 1 for both families; kept so any covariance works

    def one(k: int) -> float:
        r = np.diagonal(cov, k) / (std[:-k] * std[k:])  # r_{i,i+k} for i = 0..n−k−1
        return float(np.mean(-0.5 * np.log1p(-r * r)))

    return one(int(ds)) if ds.ndim == 0 else np.array([one(int(k)) for k in ds.ravel()]).reshape(ds.shape)


def tree_bipartite_mi(layers: int) -> float:
    """Closed form of the equal-split I_BP of the power family without boundary step: ½ ln(9/5)·3^(l−1)."""
    return 0.5 * math.log(9 / 5) * 3 ** (layers - 1)


def scaling_table(max_layers: int, family: str, boundary: bool | str = True,
                  progress: tqdm | None = None) -> dict[str, np.ndarray]:
    """Equal-split I_BP and antipodal I_TP for layers 1..max_layers (the chapter's scans)."""
    layers = np.arange(1, max_layers + 1)
    bp, tp = [], []
    for layer in layers:
        if progress is not None:
            progress.set_postfix_str(f"{family}, boundary {_boundary_map_name(boundary) or 'none'}, L = {4**layer}")
        cov = covariance(int(layer), family, boundary)
        bp.append(bipartite_mi(cov, len(cov) // 2))
        tp.append(two_point_mi(cov, 0, len(cov) - 1))
        del cov  # free 2 GiB before the next layer at max_layers = 7
        if progress is not None:
            progress.update(4**layer)  # work grows ~ L^3; counting L is a fair-enough clock
    return {"layers": layers, "seq_len": 4**layers, "bipartite_mi": np.array(bp), "two_point_mi": np.array(tp)}


@dataclass(frozen=True)
class GaussianBatch:
    """A batch of stacked sequences with the exact conditionals of every token.

    ``inputs`` (B, L, C) is the BOS token (all zeros) followed by tokens 1..L−1: what a model
    sees. ``targets`` (B, L, C) are tokens 1..L; ``mean`` (B, L, C) and ``std`` (L, 1) are the
    exact conditional mean and standard deviation of each target given the tokens before it.
    Arrays are numpy or torch, as the sampler was made.
    """

    inputs: Any
    targets: Any
    mean: Any
    std: Any


class GaussianSampler:
    """Draws independent channels of one Gaussian family with their exact conditionals (Appx. E/F).

    The Cholesky factor C of Σ is computed once in float64; a draw is z = C ε with ε standard
    normal, and the conditional of z_t given z_<t is N(z_t − C_tt ε_t, C_tt²), so the exact
    predictions come with the sample at the cost of one matrix product.

    ``backend`` is "numpy" or "torch"; ``device`` and ``dtype`` follow the backend
    (e.g. "cuda", torch.float32 or np.float64).
    """

    def __init__(self, cov: np.ndarray, channels: int = 64, backend: str = "numpy",
                 device: str = "cpu", dtype: Any = None):
        if backend not in ("numpy", "torch"):
            raise ValueError(f"backend must be 'numpy' or 'torch', not {backend!r}")
        chol = scipy.linalg.cholesky(cov, lower=True, check_finite=False)
        self.channels, self.backend, self.seq_len = channels, backend, len(cov)
        if backend == "numpy":
            if device != "cpu":
                raise ValueError("the numpy backend runs on the CPU only; use backend='torch' for CUDA")
            self.dtype = np.dtype(dtype or np.float64)
            self.chol = chol.astype(self.dtype)
        else:
            import torch

            self.dtype = dtype or torch.float32
            self.chol = torch.as_tensor(chol, dtype=self.dtype, device=device)
        self.device = device
        self.std = self._diag()[:, None]  # (L, 1): the same for every channel and sequence

    def _diag(self) -> Any:
        return np.diag(self.chol).copy() if self.backend == "numpy" else self.chol.diagonal().clone()

    def sample(self, batch: int, generator: Any = None) -> GaussianBatch:
        """One batch of ``batch`` sequences. ``generator``: np.random.Generator or torch.Generator."""
        shape = (batch, self.seq_len, self.channels)
        if self.backend == "numpy":
            rng = generator if generator is not None else np.random.default_rng()
            eps = rng.standard_normal(shape).astype(self.dtype, copy=False)
            bos = np.zeros((batch, 1, self.channels), self.dtype)
            concat = np.concatenate
        else:
            import torch

            eps = torch.randn(shape, generator=generator, dtype=self.dtype, device=self.device)
            bos = torch.zeros((batch, 1, self.channels), dtype=self.dtype, device=self.device)
            concat = torch.cat
        z = self.chol @ eps  # (L, L) @ (B, L, C) -> (B, L, C)
        mean = z - self.std * eps  # the part of z_t fixed by ε_<t
        return GaussianBatch(inputs=concat([bos, z[:, :-1]], 1), targets=z, mean=mean, std=self.std)


def conditional_kl(mean_q: Any, std_q: Any, mean_p: Any, std_p: Any) -> Any:
    """Per-position KL(p ‖ q) of Gaussian predictions, averaged over channels (last axis).

    KL_t = mean_c [ ln(σ_q/σ_p) + (σ_p² + (μ_q − μ_p)²) / (2σ_q²) − ½ ] (paper Appx. E; Fig. 4 plots it).
    Works on numpy arrays and torch tensors (differentiable); inputs broadcast, e.g.
    mean (B, L, C) with std (L, 1). Returns (B, L).
    """
    torch_input = type(mean_q).__module__.startswith("torch")
    log = (lambda x: x.log()) if torch_input else np.log
    kl = log(std_q / std_p) + (std_p**2 + (mean_q - mean_p) ** 2) / (2 * std_q**2) - 0.5
    return kl.mean(-1) if torch_input else kl.mean(axis=-1)



def chapter_scans(max_layers: int) -> dict[str, np.ndarray]:
    """Chapter 03's scans, cached on disk: every family × boundary map, layers 1..max_layers.

    Keys are ``"<family>/<boundary>/<quantity>"`` with boundary "sqrt", "cholesky" or "none",
    plus "seq_len". Layer 7 takes minutes; the cache makes re-executing the chapter cheap.
    """
    boundaries = (*BOUNDARY_MAPS, "none")

    def compute() -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        total = len(FAMILIES) * len(boundaries) * sum(4**layer for layer in range(1, max_layers + 1))
        with tqdm(total=total, desc="Gaussian scans", unit="token", unit_scale=True) as progress:
            for family in FAMILIES:
                for boundary in boundaries:
                    table = scaling_table(max_layers, family, False if boundary == "none" else boundary, progress)
                    out[f"{family}/{boundary}/bipartite_mi"] = table["bipartite_mi"]
                    out[f"{family}/{boundary}/two_point_mi"] = table["two_point_mi"]
        out["seq_len"] = 4 ** np.arange(1, max_layers + 1)
        return out

    return cache.load_or_compute("gaussian_scans", {"max_layers": max_layers}, compute, [sys.modules[__name__]])


def chapter_two_point_profiles(layers: int) -> dict[str, np.ndarray]:
    """Averaged two-point MI at every distance d = 1..L−1 for both families at L = 4**layers, cached.

    Keys: ``"distance"`` and ``"<family>"`` (boundary step included, the book's map). Chapter 03's
    figure of what the two families do *not* share.
    """
    def compute() -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {"distance": np.arange(1, 4**layers)}
        for family in FAMILIES:
            out[family] = averaged_two_point_mi(covariance(layers, family), out["distance"])
        return out

    return cache.load_or_compute("gaussian_two_point_profiles", {"layers": layers}, compute,
                                 [sys.modules[__name__]])
