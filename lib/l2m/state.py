"""History states: how many numbers a model carries from the past.

The paper's L2M condition (NeurIPS Def. 5.3 and Thm. 5.4; Thm. 5.2 and Appx. D of the first version)
bounds the bipartite MI a model can capture by the size of its *history state* z: what a causal model
keeps about the past when it goes on to predict ℓ+1..L. The NeurIPS version defines z_ℓ = f(x_{1:ℓ−1}) and
keeps the current token x_ℓ outside it (its ln M term); the formulas here count the numbers a model holds
after reading ℓ tokens, x_ℓ's contribution included. For a transformer that is the KV cache, 2·n_layer·n_head·head_dim numbers
per past token, so it grows with ℓ; for an SSM it is the recurrent state of every layer,
constant in ℓ (Appx. D). Sliding-window attention (not in the paper) keeps the KV cache of the
last window − 1 tokens only: it grows with ℓ, then stops. :func:`history_state` gives the formula,
:func:`measured_state` counts the numbers transformers actually keeps in its cache, and the tests
check that the two agree.
What the *data* asks for (the exact minimal linear state) is in :mod:`l2m.references`.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .models import ModelConfig, SequenceModel


@dataclass(frozen=True)
class HistoryState:
    """Numbers a model keeps about the past of one sequence: ``fixed + per_token · min(tokens, max_tokens)``."""

    fixed: int  # recurrent state (SSMs): does not grow with the context
    per_token: int  # KV cache (transformers): grows with every past token
    what: str  # what the numbers are, in words
    max_tokens: int | None = None  # past tokens the cache keeps at most (sliding window); None: all of them

    def at(self, tokens: int) -> int:
        """Size after ``tokens`` tokens of context."""
        kept = tokens if self.max_tokens is None else min(tokens, self.max_tokens)
        return self.fixed + self.per_token * kept


def history_state(cfg: ModelConfig) -> HistoryState:
    """The history state of a model by its formula (Appx. D of the first version).

    GPT2: keys and values of every layer, 2·n_layer·d_model per past token (n_head·head_dim = d_model).
    swa: the same per past token (n_kv_heads = n_head), for the last window − 1 tokens only.
    Mamba: per layer d_inner·d_state (SSM) + d_inner·(d_conv − 1) (the causal convolution's last inputs).
    Mamba2: per layer n_heads·head_dim·d_state (SSM) + conv_dim·(d_conv − 1), with
    conv_dim = d_inner + 2·n_groups·d_state (n_groups = 1): its convolution also runs over B and C.
    A learned position embedding makes a model with a bounded state (SSMs, swa) keep its position too:
    one more number (GPT2's cache grows with every token, so its length is the position).
    """
    if cfg.arch == "gpt2":
        return HistoryState(0, 2 * cfg.n_layer * cfg.d_model, "KV cache")
    position = 1 if cfg.position_embedding else 0
    if cfg.arch == "swa":
        # The next query attends to itself and the window − 1 tokens before it, so older keys and values
        # are never read again; transformers' DynamicSlidingWindowLayer keeps exactly those window − 1.
        # Rotary positions are relative: only the absolute position embedding needs the counter.
        return HistoryState(position, 2 * cfg.n_layer * cfg.d_model, "sliding-window KV cache", cfg.window - 1)
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
    this is the formula plus one column per convolution channel. For SSMs and swa it leaves out the
    position counter, which no cache holds as a tensor (swa's layers count tokens in a Python int).
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
    cache = out.get("cache") or out.get("past_key_values")  # GPT2 names it past_key_values, the others cache
    return int(sum(t.numel() for t in _cache_tensors(cache)))
