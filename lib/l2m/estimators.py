"""Sample-based MI estimators on data whose bipartite MI is known exactly (chapter 06; NeurIPS version, Appx. B.V).

The paper explains why it measures I_BP through a language model instead of a generic MI estimator: InfoNCE is
bounded by ln K for a batch of K samples, unbounded variational bounds (MINE, NWJ) have a variance that grows like
e^I, and the Kraskov–Stögbauer–Grassberger kNN estimator needs a number of samples exponential in the dimension.
Here each is run on samples (X, Y) of the equal split of the Gaussian power family of chapter 03, one channel,
X = z[:L/2] and Y = z[L/2:] in R^{L/2}, whose I_BP is exact (:func:`l2m.gaussian.bipartite_mi`).

- :func:`ksg`: KSG estimator 1 (Kraskov et al. 2004, Eq. 8) with max-norm neighbourhoods from scipy's cKDTree;
- :func:`infonce` and :func:`nwj`: the bounds of Poole et al. (2019) on a K×K matrix of critic scores f(x_i, y_j)
  (diagonal: joint pairs; off-diagonal: pairs from the product of the marginals);
- :class:`Critic` and :func:`critic_estimate`: a small MLP critic trained on the bound itself with fresh samples
  every step, then evaluated on held-out batches.
"""
from __future__ import annotations

import math
import sys
from dataclasses import dataclass

import numpy as np
import scipy.linalg
import scipy.special
import torch
from scipy.spatial import cKDTree

from . import cache, gaussian
from .gaussian import bipartite_mi, covariance

BOUNDS = ("infonce", "nwj")


class SplitSampler:
    """Draws (X, Y) of one channel of a Gaussian covariance split at ``ell``: z = C ε with Σ = C Cᵀ, float64."""

    def __init__(self, cov: np.ndarray, ell: int):
        self.chol = scipy.linalg.cholesky(cov, lower=True, check_finite=False)
        self.ell = ell
        self.exact = bipartite_mi(cov, ell)

    def sample(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        z = rng.standard_normal((n, len(self.chol))) @ self.chol.T  # (n, L)
        return z[:, : self.ell], z[:, self.ell :]


def power_split(layers: int, family: str = "power") -> SplitSampler:
    """The equal split of one channel of a chapter-03 family at L = 4**layers."""
    cov = covariance(layers, family)
    return SplitSampler(cov, len(cov) // 2)


def ksg(x: np.ndarray, y: np.ndarray, k: int = 3) -> float:
    """KSG estimator 1 of I(X; Y) in nats: ψ(k) + ψ(N) − ⟨ψ(n_x + 1) + ψ(n_y + 1)⟩ (Kraskov et al. 2004, Eq. 8).

    ε_i is the max-norm distance from sample i to its k-th neighbour in the joint space; n_x counts the other
    samples strictly closer than ε_i in X alone (n_y in Y). ``x`` (N, d_x), ``y`` (N, d_y).
    """
    x, y = np.asarray(x, float).reshape(len(x), -1), np.asarray(y, float).reshape(len(y), -1)
    n = len(x)
    if not 1 <= k < n:
        raise ValueError(f"k must be from 1 to N − 1 = {n - 1}, not {k}")
    joint = np.hstack([x, y])
    eps = cKDTree(joint).query(joint, k=k + 1, p=np.inf)[0][:, -1]  # the first neighbour is the point itself
    radius = np.nextafter(eps, 0)  # strictly inside ε_i
    n_x = cKDTree(x).query_ball_point(x, radius, p=np.inf, return_length=True) - 1
    n_y = cKDTree(y).query_ball_point(y, radius, p=np.inf, return_length=True) - 1
    digamma = scipy.special.digamma
    return float(digamma(k) + digamma(n) - np.mean(digamma(n_x + 1) + digamma(n_y + 1)))


def infonce(scores: torch.Tensor) -> torch.Tensor:
    """InfoNCE (van den Oord et al. 2018): mean_i [f_ii − ln mean_j e^{f_ij}] ≤ ln K for a (K, K) score matrix."""
    k = scores.shape[0]
    return (scores.diagonal() - torch.logsumexp(scores, dim=1)).mean() + math.log(k)


def nwj(scores: torch.Tensor) -> torch.Tensor:
    """NWJ (Nguyen, Wainwright, Jordan 2010; f-GAN KL): E_p[f] − e^{−1} E_{p_X p_Y}[e^f], unbounded above.

    The product of the marginals is the off-diagonal of the (K, K) score matrix. Its optimum f = 1 + ln p/(p_X p_Y)
    gives I exactly, but e^f on the marginal pairs is a heavy-tailed average when I is large (Appx. B.V).
    """
    k = scores.shape[0]
    off = ~torch.eye(k, dtype=torch.bool, device=scores.device)
    return scores.diagonal().mean() - torch.exp(scores[off] - 1).mean()


BOUND_FUNCTIONS = {"infonce": infonce, "nwj": nwj}


class Critic(torch.nn.Module):
    """f(x, y) = g(x)·h(y) + a(x) + b(y): two one-hidden-layer MLP encoders (separable, Poole et al. 2019) with
    scalar heads, so that a K×K score matrix costs one matrix product and the marginal terms of ln p/(p_X p_Y)
    (which NWJ needs and InfoNCE ignores) can be represented."""

    def __init__(self, d_x: int, d_y: int, hidden: int = 256, embed: int = 64):
        super().__init__()
        self.g = torch.nn.Sequential(torch.nn.Linear(d_x, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, embed + 1))
        self.h = torch.nn.Sequential(torch.nn.Linear(d_y, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, embed + 1))

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        gx, hy = self.g(x), self.h(y)  # (K, embed + 1) each; the last column is the scalar head
        return gx[:, :-1] @ hy[:, :-1].T + gx[:, -1:] + hy[:, -1:].T  # (K, K): row i is x_i against every y_j


@dataclass(frozen=True)
class CriticResult:
    """A critic bound on held-out batches: mean over ``batches`` evaluation batches of K, and its standard error."""

    bound: str
    batch: int
    estimate: float
    stderr: float
    train_curve: np.ndarray  # the bound on each training batch


def critic_estimate(sampler: SplitSampler, bound: str, batch: int, steps: int, seed: int = 0, lr: float = 1e-3,
                    eval_batches: int = 32, hidden: int = 256, embed: int = 64, device: str = "cpu") -> CriticResult:
    """Train a :class:`Critic` on ``bound`` ("infonce" or "nwj") with batches of K = ``batch`` fresh samples, Adam,
    ``steps`` steps; return the bound on ``eval_batches`` held-out batches of the same K (nats). The samples are
    drawn in float64 on the CPU; the critic runs on ``device`` in float32."""
    if bound not in BOUND_FUNCTIONS:
        raise ValueError(f"bound must be one of {BOUNDS}, not {bound!r}")
    objective = BOUND_FUNCTIONS[bound]
    rng = np.random.default_rng([seed, 0])
    torch.manual_seed(seed)
    x0, y0 = sampler.sample(2, rng)
    critic = Critic(x0.shape[1], y0.shape[1], hidden, embed).to(device)
    opt = torch.optim.Adam(critic.parameters(), lr=lr)
    curve = np.empty(steps)
    as_tensor = lambda a: torch.as_tensor(a, dtype=torch.float32, device=device)  # noqa: E731
    for step in range(steps):
        x, y = sampler.sample(batch, rng)
        value = objective(critic(as_tensor(x), as_tensor(y)))
        opt.zero_grad()
        (-value).backward()
        opt.step()
        curve[step] = value.item()
    held_out = np.random.default_rng([seed, 1])
    with torch.no_grad():
        values = np.array([objective(critic(*map(as_tensor, sampler.sample(batch, held_out)))).item()
                           for _ in range(eval_batches)])
    return CriticResult(bound, batch, float(values.mean()), float(values.std(ddof=1) / math.sqrt(eval_batches)),
                        curve)


def comparison(layers: tuple[int, ...], batches: tuple[int, ...], nwj_batch: int, seeds: int, steps: int,
               ksg_samples: int, ksg_repeats: int, ksg_k: int = 3, family: str = "power", seed: int = 0,
               device: str = "cpu") -> dict:
    """Every estimator on the equal split of ``family`` at L = 4**l for l in ``layers``, cached (chapter 06).

    Arrays (nats per channel): ``seq_len`` and ``exact`` (I_BP(L/2)) per L; ``infonce`` and ``infonce_se``
    (len(batches), len(layers)): one trained critic per K of ``batches``; ``nwj`` and ``nwj_se`` (seeds,
    len(layers)): one critic per seed with batch ``nwj_batch``; ``ksg`` (ksg_repeats, len(layers)): KSG on
    independent sets of ``ksg_samples`` samples. The critics train on ``device`` ("cpu" or "cuda"), part of the key.
    """
    def compute() -> dict[str, np.ndarray]:
        out: dict[str, list] = {k: [] for k in ("seq_len", "exact", "infonce", "infonce_se", "nwj", "nwj_se", "ksg")}
        for layer in layers:
            sampler = power_split(layer, family)
            out["seq_len"].append(4**layer)
            out["exact"].append(sampler.exact)
            nce = [critic_estimate(sampler, "infonce", k, steps, seed, device=device) for k in batches]
            out["infonce"].append([r.estimate for r in nce])
            out["infonce_se"].append([r.stderr for r in nce])
            fits = [critic_estimate(sampler, "nwj", nwj_batch, steps, seed + s, device=device) for s in range(seeds)]
            out["nwj"].append([r.estimate for r in fits])
            out["nwj_se"].append([r.stderr for r in fits])
            rng = np.random.default_rng([seed, layer, 2])
            out["ksg"].append([ksg(*sampler.sample(ksg_samples, rng), k=ksg_k) for _ in range(ksg_repeats)])
        arrays = {k: np.asarray(v, dtype=float) for k, v in out.items()}
        for name in ("infonce", "infonce_se", "nwj", "nwj_se", "ksg"):
            arrays[name] = arrays[name].T  # (variants, layers)
        return arrays | {"batches": np.asarray(batches)}

    key = {"layers": list(layers), "batches": list(batches), "nwj_batch": nwj_batch, "seeds": seeds, "steps": steps,
           "ksg_samples": ksg_samples, "ksg_repeats": ksg_repeats, "ksg_k": ksg_k, "family": family, "seed": seed,
           "device": device}
    return cache.load_or_compute("estimators", key, compute, [sys.modules[__name__], gaussian])
