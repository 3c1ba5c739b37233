"""How far an fp32 score may be from another fp32 path and from the exact score: the measured bounds.

Chapter 01's scorer (:class:`l2m.lm.TransformersScorer`) computes log q(w_t | BOS, w_<t) in float32. Packing
passes into one batch, projecting the vocabulary a chunk at a time, or reusing a KV cache computes the same
function, but not the same floating-point operations: the fp32 matrix products (oneDNN / MKL ``sgemm``) pick
their blocking, and with it the order in which each dot product is summed, from the matrix's shape and the
number of threads. A row multiplied inside a 41-row matrix is rounded otherwise than the same row alone
(measured: a batch of two identical unpadded sequences differs from one alone exactly as much as a padded pack
does, and eager attention differs exactly as much as SDPA, so neither the padding mask nor the attention kernel
is the cause). Thirty layers carry that to ~1e-4 nats in a score, and a CPU with other vector widths or cache
sizes (AVX-512 against AVX2, AMD against Intel) sums in yet other orders: an AMD EPYC found 1.58e-4.

Two bounds, each the largest value ``benchmarks/bench_numerics.py`` measured, times :data:`MARGIN`:

- :data:`FP32_PATH_DIFFERENCE`: two fp32 paths (alone, packed, chunked, from a KV cache) through the same
  function. The tests of packing, chunking and cache reuse use it: equal up to summation order.
- :data:`FP32_SCORE_ERROR`: an fp32 path against :func:`reference_scores`, the same model run in float64. Much
  larger on some inputs (2.8e-3 nats at the second token of a text piece that starts mid-sentence): every fp32
  path shares the rounding of the large activations there, so they agree with one another far better than
  with the exact value. The test that the scorer computes the right function uses it.

A defect (a score read one position off, padding the model attends to) moves scores by nats, hundreds of times
the larger bound (tested).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np

# Measured by benchmarks/bench_numerics.py, per model, over 41 sequences of 1–128 tokens (text prefixes, text
# pieces starting mid-sentence, random ids: ~1,900 tokens), each scored alone, packed whole, packed 64 tokens a
# batch with 7-position vocabulary chunks, and extended from a reused KV cache, under every ATEN_CPU_CAPABILITY of
# an Intel Xeon with AVX-512 (default, avx2, avx512) with 1 and 2 threads (2026-12-02). SmolLM2's 3.4e-3 comes
# from one token (the second of a text piece that starts mid-sentence); Gemma's fp32 paths stay within 1e-4 of float64.
FP32_PATH_DIFFERENCE_MEASURED = {"smollm2-135m": 1.62e-4, "gemma3-270m": 1.19e-4}
FP32_SCORE_ERROR_MEASURED = {"smollm2-135m": 3.38e-3, "gemma3-270m": 1.03e-4}
# A margin of 3: another CPU sums in other orders (a new draw of the same error distribution), and the benchmark's
# inputs are a sample. It covers the packed-against-alone difference reported from an AMD EPYC (1.58e-4 nats).
MARGIN = 3.0
FP32_PATH_DIFFERENCE = {model: MARGIN * error for model, error in FP32_PATH_DIFFERENCE_MEASURED.items()}
FP32_SCORE_ERROR = {model: MARGIN * error for model, error in FP32_SCORE_ERROR_MEASURED.items()}


def reference_scores(model: str | Path, bos_id: int, sequences: Sequence[np.ndarray]) -> list[np.ndarray]:
    """log q(w_t | BOS, w_<t) for each sequence from one unbatched float64 forward of the whole model (its own
    vocabulary head included), then a float64 log-softmax: the value every fp32 path approximates."""
    import torch
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging as hf_logging

    from .packaged import checkpoint
    from .tokenizer import offline

    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # the converted checkpoint's config names its GGUF: a warning about packed
    try:  # GGUF kernels, which do not apply to these plain safetensors weights
        with offline():
            model64 = AutoModelForCausalLM.from_pretrained(str(checkpoint(str(model))), dtype=torch.float64,
                                                           local_files_only=True, trust_remote_code=False).eval()
    finally:
        hf_logging.set_verbosity(verbosity)
    out = []
    with torch.no_grad():
        for ids in sequences:
            ids = [int(i) for i in ids]
            logits = model64(torch.tensor([[bos_id, *ids]])).logits[0, :-1]  # (T, V) float64
            out.append(torch.log_softmax(logits, -1)[torch.arange(len(ids)), torch.tensor(ids)].numpy())
    return out


def kernel_paths() -> list[str]:
    """The values of ATEN_CPU_CAPABILITY this CPU can run: PyTorch's vectorised kernels at each width it has."""
    flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").is_file() else ""
    paths = ["default"]
    if " avx2" in flags:
        paths.append("avx2")
    if " avx512f" in flags and " avx512bw" in flags and " avx512vl" in flags and " avx512dq" in flags:
        paths.append("avx512")
    return paths


def kernel_path() -> str:
    """The kernel path this process runs (ATEN_CPU_CAPABILITY, or the widest the CPU has) and its threads."""
    import torch

    return f"{os.environ.get('ATEN_CPU_CAPABILITY', torch.backends.cpu.get_cpu_capability())}, " \
           f"{torch.get_num_threads()} threads"
