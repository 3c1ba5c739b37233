"""The models of chapter 04: GPT2, sliding-window attention, Mamba and Mamba2 from transformers.

The paper (Sec. 5, Appx. E/F) trains transformers and state-space models from scratch on two
tasks. On the Gaussian data a token is a vector in R^channels: a two-layer MLP replaces the
token embedding and a second two-layer MLP outputs ``channels`` means and as many positive
standard deviations. On text the usual token embedding and (tied) LM head are used, with the
corpus tokenizer's vocabulary. The backbone in between is a transformers model fed
``inputs_embeds``: ``GPT2Model``, ``MistralModel`` with a sliding window ("swa"), ``MambaModel`` or
``Mamba2Model``. The paper compares a history state that grows with L (GPT2's KV cache) against a fixed
one (the SSMs); sliding-window attention sits between them: a KV cache capped at the last ``window − 1``
tokens (Appx. D's history state, :mod:`l2m.state`). It is not one of the paper's models.

Sizes are named (:data:`SIZES`): the paper's sizes (Appx. E/F) and small CPU sizes. Mamba and
Mamba2 run the official ``mamba_ssm`` / ``causal_conv1d`` kernels whenever those packages are
importable (transformers picks them itself, as the paper's runs did on CUDA); otherwise the
transformers PyTorch path, with the ``mambapy`` parallel scan for Mamba (:func:`kernel_path`).

``position_embedding`` adds a learned absolute position embedding to the input of swa, Mamba and
Mamba2 (GPT2 always has its own; the flag does not apply to it; swa keeps its rotary positions too,
which are relative only). The Gaussian process is tied to absolute position, so a position-blind
linear model is held at the best position-blind linear predictor whatever its memory (a nonlinear recurrent one can
count positions from BOS and do better); this control separates position from memory.
"""
from __future__ import annotations

import dataclasses
import importlib.util
import logging
import math
import warnings
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

ARCHS = ("gpt2", "swa", "mamba", "mamba2")
ATTENTION_ARCHS = ("gpt2", "swa")  # history state = KV cache; the others are SSMs
TASKS = ("gaussian", "text")
STD_FLOOR = 1e-4  # smallest predicted standard deviation; the exact ones are ≥ 0.1 at every L here


@dataclass(frozen=True)
class ModelSize:
    """One named size: depth, width and the architecture's own widths (0 = library default)."""

    n_layer: int
    d_model: int
    n_head: int = 0  # attention heads (GPT2, swa)
    d_state: int = 0  # SSM state per channel (Mamba: per inner channel; Mamba2: per head dimension)
    head_dim: int = 0  # Mamba2 head dimension
    window: int = 0  # swa: tokens each query attends to, itself included


SIZES: dict[str, dict[str, ModelSize]] = {
    # GPT2 / -medium / -large as in the paper's runs (Appx. E/F); tiny/small are CPU sizes.
    "gpt2": {
        "tiny": ModelSize(2, 64, n_head=4),
        "small": ModelSize(4, 128, n_head=4),
        "125m": ModelSize(12, 768, n_head=12),
        "355m": ModelSize(24, 1024, n_head=16),
        "774m": ModelSize(36, 1280, n_head=20),
    },
    # Sliding-window attention (not in the paper): GPT2's widths; windows below a CPU run's L (64 to 256)
    # so that the cap binds; at 125m a quarter of L = 1024, one of the paper's GPT2 lengths.
    "swa": {
        "tiny": ModelSize(2, 64, n_head=4, window=16),
        "small": ModelSize(4, 128, n_head=4, window=32),
        "125m": ModelSize(12, 768, n_head=12, window=256),
    },
    # Mamba: library defaults d_state 16, expand 2, d_conv 4; tiny is a CPU size measured for this book.
    "mamba": {
        "tiny": ModelSize(2, 32, d_state=4),
        "small": ModelSize(4, 64, d_state=8),
        "50m": ModelSize(12, 512, d_state=16),
        "70m": ModelSize(24, 512, d_state=16),
        "130m": ModelSize(24, 768, d_state=16),
        "370m": ModelSize(48, 1024, d_state=16),
        "790m": ModelSize(48, 1536, d_state=16),
        "1.4b": ModelSize(48, 2048, d_state=16),
    },
    # Mamba2: library defaults d_state 128, head_dim 64; CPU sizes use smaller heads.
    "mamba2": {
        "tiny": ModelSize(2, 32, d_state=4, head_dim=16),
        "small": ModelSize(4, 64, d_state=8, head_dim=16),
        "130m": ModelSize(24, 768, d_state=128, head_dim=64),
        "370m": ModelSize(48, 1024, d_state=128, head_dim=64),
        "790m": ModelSize(48, 1536, d_state=128, head_dim=64),
    },
}
SIZE_NAMES = tuple(dict.fromkeys(name for sizes in SIZES.values() for name in sizes))


@dataclass(frozen=True)
class ModelConfig:
    """Everything that builds a model (saved inside every checkpoint, as a plain dict)."""

    arch: str
    task: str
    n_layer: int
    d_model: int
    max_len: int  # longest input: the GPT2 position table and the Mamba position embedding
    channels: int = 0  # Gaussian task: size of a vector token
    vocab_size: int = 0  # text task
    n_head: int = 0
    d_state: int = 0
    head_dim: int = 0
    window: int = 0  # swa only: sliding attention window in tokens, the query itself included
    expand: float = 2  # SSM inner width d_inner = expand · d_model (below 1: a state narrower than the residual stream)
    d_conv: int = 4  # SSM causal convolution width
    position_embedding: bool = True  # swa, Mamba and Mamba2: GPT2 always has its learned positions
    dropout: float = 0.0  # fresh data never repeats; none by default

    @property
    def d_inner(self) -> int:
        return round(self.expand * self.d_model)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "ModelConfig":
        return cls(**values)


def model_config(arch: str, size: str, task: str, seq_len: int, channels: int = 0, vocab_size: int = 0,
                 position_embedding: bool = True, d_state: int = 0, window: int = 0, n_layer: int = 0,
                 d_model: int = 0, expand: float = 0, d_conv: int = 0, n_head: int = 0) -> ModelConfig:
    """The :class:`ModelConfig` of a named size; a value > 0 overrides the size's: ``d_state`` (SSMs),
    ``window`` (swa), ``n_layer``, ``d_model``, the attention models' ``n_head`` and the SSMs' ``expand`` and
    ``d_conv``. Chapter 05 shrinks SSM states with them (Sec. 5: a state below what the data asks for)."""
    if arch not in SIZES:
        raise ValueError(f"arch must be one of {', '.join(ARCHS)}, not {arch!r}")
    if size not in SIZES[arch]:
        raise ValueError(f"size {size!r} is not a size of {arch}: use one of {', '.join(SIZES[arch])}")
    if task not in TASKS:
        raise ValueError(f"task must be one of {', '.join(TASKS)}, not {task!r}")
    s = SIZES[arch][size]
    ssm = arch not in ATTENTION_ARCHS
    d_model, expand, d_conv = d_model or s.d_model, expand or 2, d_conv or 4  # 0 keeps the library defaults
    head_dim = s.head_dim
    d_inner = round(expand * d_model)
    if ssm and (d_inner < 1 or abs(d_inner - expand * d_model) > 1e-9):
        raise ValueError(f"expand = {expand} times d_model = {d_model} must be a whole number of inner channels")
    if arch == "mamba2" and expand != int(expand):
        raise ValueError(f"expand = {expand}: Mamba2 takes a whole expand (transformers' Mamba2 layers), Mamba a fraction")
    if arch == "mamba2" and head_dim and d_inner % head_dim:
        head_dim = math.gcd(head_dim, d_inner)  # Mamba2Config: heads · head_dim = expand · d_model
    n_head = (n_head or s.n_head) if arch in ATTENTION_ARCHS else 0
    if n_head and d_model % n_head:
        raise ValueError(f"d_model = {d_model} is not a multiple of {n_head} heads ({arch} {size}"
                         f"{'' if n_head == s.n_head else ', n_head set'}): choose a d_model or n_head that divides it")
    return ModelConfig(arch=arch, task=task, n_layer=n_layer or s.n_layer, d_model=d_model, max_len=seq_len,
                       channels=channels if task == "gaussian" else 0, vocab_size=vocab_size if task == "text" else 0,
                       n_head=n_head, d_state=(d_state or s.d_state) if arch not in ATTENTION_ARCHS else 0,
                       head_dim=head_dim, window=(window or s.window) if arch == "swa" else 0,
                       expand=expand if ssm else 2, d_conv=d_conv if ssm else 4,
                       position_embedding=position_embedding or arch == "gpt2")


def _backbone(cfg: ModelConfig) -> nn.Module:
    """The transformers model between embedding and head, built from its config (random weights)."""
    from transformers import (
        GPT2Config,
        GPT2Model,
        Mamba2Config,
        Mamba2Model,
        MambaConfig,
        MambaModel,
        MistralConfig,
        MistralModel,
    )

    # vocab_size 2: the backbone's own token table is never used (we pass inputs_embeds); keep it tiny.
    common = dict(vocab_size=2, pad_token_id=0, bos_token_id=0, eos_token_id=0, tie_word_embeddings=False)
    if cfg.arch == "gpt2":
        config = GPT2Config(n_positions=cfg.max_len, n_embd=cfg.d_model, n_layer=cfg.n_layer, n_head=cfg.n_head,
                            resid_pdrop=cfg.dropout, embd_pdrop=cfg.dropout, attn_pdrop=cfg.dropout,
                            activation_function="gelu_pytorch_tanh",  # GPT-2's tanh GELU as one fused kernel
                            use_cache=False, **common)
        config._attn_implementation = "sdpa"  # fused attention: the fastest path on CPU and GPU
        return GPT2Model(config)
    if cfg.arch == "swa":
        # Mistral's decoder block: rotary positions, RMSNorm, SwiGLU MLP; each query sees itself and the
        # window − 1 tokens before it (masking_utils.sliding_window_overlay: kv > q − window).
        config = MistralConfig(hidden_size=cfg.d_model, num_hidden_layers=cfg.n_layer, num_attention_heads=cfg.n_head,
                               num_key_value_heads=cfg.n_head,  # no grouped queries: GPT2's KV cache per token
                               intermediate_size=_swiglu_width(cfg.d_model), sliding_window=cfg.window,
                               max_position_embeddings=cfg.max_len, attention_dropout=cfg.dropout,
                               use_cache=False, **common)
        config._attn_implementation = "sdpa"  # as GPT2; the window is an explicit mask once L ≥ window
        return MistralModel(config)
    if cfg.arch == "mamba":
        config = MambaConfig(hidden_size=cfg.d_model, state_size=cfg.d_state, num_hidden_layers=cfg.n_layer,
                             expand=max(1, int(cfg.expand)), conv_kernel=cfg.d_conv, use_mambapy=True, use_cache=False,
                             **common)
        # MambaConfig takes a whole expand; the layers and the cache read intermediate_size, so a fractional
        # expand (an SSM state narrower than the residual stream, chapter 05) is set here
        config.intermediate_size = cfg.d_inner
        return MambaModel(config)
    num_heads = cfg.d_inner // cfg.head_dim  # Mamba2Config checks expand·hidden_size = num_heads·head_dim
    config = Mamba2Config(hidden_size=cfg.d_model, state_size=cfg.d_state, num_hidden_layers=cfg.n_layer,
                          expand=int(cfg.expand), conv_kernel=cfg.d_conv, head_dim=cfg.head_dim, num_heads=num_heads,
                          n_groups=1,  # the official Mamba2 default (ngroups=1)
                          chunk_size=min(256, cfg.max_len),  # the PyTorch path pads every chunk to this length
                          use_cache=False, **common)
    return Mamba2Model(config)


def _swiglu_width(d_model: int) -> int:
    """LLaMA's rule, 8·d_model/3 rounded up to a multiple of 64: the gated MLP's three matrices then hold
    GPT2's 8·d_model² (exactly at d_model = 768), so swa and GPT2 of one size have about the same parameters."""
    return 64 * math.ceil(8 * d_model / 3 / 64)


def _mlp(d_in: int, d_hidden: int, d_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(d_in, d_hidden), nn.GELU(), nn.Linear(d_hidden, d_out))


class SequenceModel(nn.Module):
    """Embedding → transformers backbone → head, for vector (Gaussian) or token (text) sequences.

    ``forward(inputs)``: Gaussian ``inputs`` (B, T, C) float → ``(mean, std)``, each (B, T, C);
    text ``inputs`` (B, T) int64 → logits (B, T, V). Output t predicts the token after input t.
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.backbone = _backbone(cfg)
        self.backbone.get_input_embeddings().weight.requires_grad_(False)  # never used: we pass inputs_embeds
        if cfg.task == "gaussian":
            self.embed = _mlp(cfg.channels, cfg.d_model, cfg.d_model)  # replaces the token embedding
            self.head = _mlp(cfg.d_model, cfg.d_model, 2 * cfg.channels)  # means and raw standard deviations
        else:
            self.embed = nn.Embedding(cfg.vocab_size, cfg.d_model)
            nn.init.normal_(self.embed.weight, std=0.02)
            self.head = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
            self.head.weight = self.embed.weight  # tied, as in GPT2LMHeadModel and MambaForCausalLM
        self.position = None
        if cfg.arch != "gpt2" and cfg.position_embedding:
            self.position = nn.Embedding(cfg.max_len, cfg.d_model)
            nn.init.normal_(self.position.weight, std=0.02)

    def hidden(self, inputs: torch.Tensor, **backbone_kwargs: Any) -> Any:
        """The backbone's output for ``inputs`` (its ModelOutput; ``.last_hidden_state`` is (B, T, d))."""
        x = self.embed(inputs)  # (B, T, d)
        if self.position is not None:
            x = x + self.position.weight[: x.shape[1]]  # (T, d) broadcast over the batch
        return self.backbone(inputs_embeds=x, **backbone_kwargs)

    def forward(self, inputs: torch.Tensor) -> Any:
        h = self.hidden(inputs).last_hidden_state  # (B, T, d)
        if self.cfg.task == "text":
            return self.head(h)  # (B, T, V)
        out = self.head(h)  # (B, T, 2C)
        mean, raw = out.chunk(2, dim=-1)
        return mean, F.softplus(raw) + STD_FLOOR  # positive standard deviations, (B, T, C) each


def build_model(cfg: ModelConfig) -> SequenceModel:
    """A freshly initialised :class:`SequenceModel` (draws from torch's global RNG)."""
    return SequenceModel(cfg)


def count_parameters(model: nn.Module) -> int:
    """Trainable parameters (a tied weight counts once)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def quiet_library_warnings() -> None:
    """Silence two library messages that say nothing about a run (a chapter's import cell, the train CLI).

    Changes global logging and warning filters, so it is a call, never an import's side effect.
    """
    # transformers warns on the first forward that an SSM kernel falls back to PyTorch ("much slower");
    # on the CPU that is the intended path, and kernel_path() records which one ran.
    logging.getLogger("transformers.integrations.hub_kernels").setLevel(logging.ERROR)
    # transformers imports tqdm.auto, which warns in a kernel without ipywidgets; our bars are plain text.
    warnings.filterwarnings("ignore", message="IProgress not found")


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """The device a chapter's ``device`` parameter names: "auto" is CUDA when present, else the CPU."""
    if name == "cuda" or (name == "auto" and torch.cuda.is_available()):
        return torch.device("cuda", local_rank)
    return torch.device("cpu")


def kernel_path(arch: str, device: str | torch.device) -> str:
    """Which implementation the SSM layers run: "mamba_ssm" (official CUDA kernels), "mambapy" or "torch".

    transformers imports the official kernels whenever ``mamba_ssm`` is installed; they need CUDA.
    """
    if arch in ATTENTION_ARCHS:
        return "sdpa"
    if importlib.util.find_spec("mamba_ssm") is not None and torch.device(device).type == "cuda":
        return "mamba_ssm"
    if arch == "mamba" and importlib.util.find_spec("mambapy") is not None:
        return "mambapy"
    return "torch"
