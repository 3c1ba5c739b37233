"""Scoring backends: token ids in, per-token log-probabilities out (chapter 01).

Every backend answers one question, ``score(sequences)``: for each sequence w_1..w_n of token
ids, the log-probabilities log q(w_t | BOS, w_<t) for t = 1..n, float64, in nats. Each sequence
is scored after the model's own BOS token, as the paper's estimators assume (eqs. 6–7).

- :class:`TransformersScorer`: any causal LM that transformers loads, on CPU or CUDA. Batches
  are bounded in padded tokens, and the vocabulary projection is applied a chunk of positions
  at a time, so the full [tokens × vocabulary] logits never exist (Gemma's vocabulary is 262k).
  fp32 by default; the vocabulary projection is fp32 even for a bf16 / fp16 model.
- :class:`VLLMScorer`: vLLM with ``prompt_logprobs`` and tensor parallelism, for LLaMA-3.1-class
  models on GPUs (the paper's setting).

The models are the packaged ones of :mod:`l2m.packaged` (GGUFs in registry packages, converted once),
a local folder, or a Hugging Face id already in the local cache; nothing is ever fetched from a hub, and
remote code is never trusted. :func:`score_cached` stores each scored pass on disk under the model's fingerprint and the
exact token ids, written atomically, so an interrupted run resumes with identical numbers.
"""
from __future__ import annotations

import functools
import hashlib
import inspect
import io
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import numpy as np
from tqdm import tqdm

from . import cache
from .packaged import DEFAULT_MODEL, MODELS, ModelUnavailable, checkpoint, fingerprint
from .tokenizer import offline

DTYPES = ("float32", "bfloat16", "float16")
CHUNK_FLOATS = 1 << 25  # logits held at once by the scorer: 32M floats, 128 MB in fp32


def _batches(lengths: Sequence[int], max_tokens: int) -> list[list[int]]:
    """Indices grouped longest first so that each batch holds at most ``max_tokens`` padded tokens."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    batches: list[list[int]] = []
    for i in order:
        if batches and (len(batches[-1]) + 1) * lengths[batches[-1][0]] <= max_tokens:
            batches[-1].append(i)
        else:
            batches.append([i])
    return batches


class TransformersScorer:
    """Scores token sequences with a transformers causal LM, bounded in memory.

    ``batch_tokens`` caps the padded tokens of one forward pass; ``vocab_chunk`` caps the
    positions projected onto the vocabulary at once ([vocab_chunk × V] floats); by default as
    many as fit in :data:`CHUNK_FLOATS` floats (128 MB), e.g. 682 positions for SmolLM2, 128 for Gemma.
    """

    def __init__(self, model: str = DEFAULT_MODEL, device: str = "cpu", dtype: str = "float32",
                 batch_tokens: int = 4096, vocab_chunk: int | None = None, folder: Path | None = None):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {DTYPES}, not {dtype!r}")
        self.name, self.device, self.dtype = model, device, dtype
        self.path = checkpoint(model, folder)
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # a "Loading weights" bar per model is noise on the book's pages
        try:
            with offline():
                self.tokenizer = AutoTokenizer.from_pretrained(str(self.path), local_files_only=True,
                                                               trust_remote_code=False)
                self.model = AutoModelForCausalLM.from_pretrained(
                    str(self.path), dtype=getattr(torch, dtype), local_files_only=True, trust_remote_code=False,
                ).to(device).eval()
        except OSError as error:
            raise ModelUnavailable(
                f"no model {model!r} here: use a packaged model ({', '.join(MODELS)}), a local folder, or a "
                f"Hugging Face id already in the local cache (nothing is downloaded) [{error}]") from None
        bos = MODELS[model].bos if model in MODELS else self.tokenizer.bos_token
        self.bos_id = self.tokenizer.convert_tokens_to_ids(bos)
        self.fingerprint = fingerprint(self.path, dtype)
        self.batch_tokens, self.vocab_chunk = batch_tokens, vocab_chunk
        self.softcap = getattr(self.model.config, "final_logit_softcapping", None)

    def _log_probs(self, hidden: Any, targets: Any) -> Any:
        """log q(target) at each position, projecting a chunk of positions onto the vocabulary at a time.

        The projection runs in float32 whatever the model's dtype: a bf16 matmul rounds logits near 20
        by up to ~0.06 nats before the log-sum-exp, more than the per-token MI differences measured.
        """
        import torch

        head = self.model.get_output_embeddings()
        weight = head.weight.float()  # (V, H); no copy for an fp32 model
        bias = None if getattr(head, "bias", None) is None else head.bias.float()
        out = torch.empty(targets.shape, dtype=torch.float64, device=hidden.device)
        flat_hidden, flat_targets, flat_out = hidden.reshape(-1, hidden.shape[-1]), targets.reshape(-1), out.view(-1)
        step = self.vocab_chunk or max(1, CHUNK_FLOATS // weight.shape[0])  # positions per projection
        for start in range(0, len(flat_targets), step):
            part = slice(start, start + step)
            logits = torch.nn.functional.linear(flat_hidden[part].float(), weight, bias)  # (chunk, V), fp32
            if self.softcap:  # Gemma-style final logit soft-capping, as the model's own forward applies it
                logits = torch.tanh(logits / self.softcap) * self.softcap
            # log q(target) = logit[target] − logsumexp(logits): no (chunk, V) log-softmax is written
            picked = logits.gather(1, flat_targets[part, None])[:, 0]
            flat_out[part] = picked.double() - torch.logsumexp(logits, dim=-1).double()
        return out

    def score_batches(self, sequences: Sequence[np.ndarray]) -> Iterator[list[tuple[int, np.ndarray]]]:
        """Scores of ``sequences`` one batch at a time, as [(index, log-probs), ...] once each batch is done.

        All sequences are sorted by length together and packed into batches of at most ``batch_tokens``
        padded tokens, so many short passes share one forward instead of each paying the per-call cost.
        """
        import torch

        lengths = [len(s) for s in sequences]
        for batch in _batches(lengths, self.batch_tokens):
            width = lengths[batch[0]]
            ids = torch.zeros((len(batch), width + 1), dtype=torch.long)
            mask = torch.zeros_like(ids)
            for row, i in enumerate(batch):  # right padding: positions stay 0..n for every row
                ids[row, 0] = self.bos_id
                ids[row, 1 : lengths[i] + 1] = torch.as_tensor(np.asarray(sequences[i], dtype=np.int64))
                mask[row, : lengths[i] + 1] = 1
            ids, mask = ids.to(self.device), mask.to(self.device)
            with torch.no_grad():
                hidden = self.model.base_model(input_ids=ids, attention_mask=mask).last_hidden_state  # (B, T+1, H)
                log_probs = self._log_probs(hidden[:, :-1], ids[:, 1:]).cpu().numpy()  # (B, T)
            yield [(i, log_probs[row, : lengths[i]].copy()) for row, i in enumerate(batch)]

    def score(self, sequences: Sequence[np.ndarray], progress: bool = False) -> list[np.ndarray]:
        results: list[np.ndarray | None] = [None] * len(sequences)
        bar = tqdm(total=sum(len(s) for s in sequences), unit="tok", unit_scale=True, desc=f"scoring ({self.name})",
                   disable=not progress)
        for done in self.score_batches(sequences):
            for i, log_probs in done:
                results[i] = log_probs
            bar.update(sum(len(log_probs) for _, log_probs in done))
        bar.close()
        return results  # type: ignore[return-value]

    def _reusable_cache(self, cache: Any) -> bool:
        """Whether a pass's KV cache can be cut to a prefix and extended: every layer a plain (full) attention
        cache. Gemma's sliding-window layers keep only their last window, so their prefixes are not kept."""
        from transformers.cache_utils import DynamicLayer

        return all(type(layer) is DynamicLayer for layer in getattr(cache, "layers", [None]))

    def score_extensions(self, families: Sequence[tuple[np.ndarray, Sequence[tuple[int, np.ndarray]]]]
                         ) -> Iterator[list[tuple[int, np.ndarray, list[np.ndarray]]]]:
        """Scores of each family's root and of each sequence root[:n] + continuation of its (n, continuation)s.

        Roots of equal length run together (at most ``batch_tokens`` tokens a batch) and keep their KV caches;
        each extension reuses the cache of its root's first n tokens and runs only its continuation, so a prefix
        shared by many passes is computed once (vCLUB's X' is the start of another window's own pass, Sec. 3).
        The first n scores of an extension are its root's; the next comes from the root's hidden state at
        position n. Extensions of equal (n, length) share one forward across the batch's roots. Yields, a batch
        of roots at a time, [(family index, root scores, [full scores of each extension])]; equal to scoring
        every sequence from scratch up to float rounding (tests/test_lm.py).
        """
        import torch

        by_length: dict[int, list[int]] = {}
        for f, (root, _) in enumerate(families):
            by_length.setdefault(len(root), []).append(f)
        base = self.model.base_model
        # transformers 5.24 names the cache argument `cache`; older releases (vLLM's pin) `past_key_values`
        cache_arg = "cache" if "cache" in inspect.signature(base.forward).parameters else "past_key_values"
        for length, members in by_length.items():
            step = max(1, self.batch_tokens // (length + 1))
            for start in range(0, len(members), step):
                batch = members[start : start + step]
                roots = np.stack([np.asarray(families[f][0], dtype=np.int64) for f in batch])
                ids = torch.as_tensor(np.concatenate([np.full((len(batch), 1), self.bos_id), roots], axis=1))
                ids = ids.to(self.device)  # (B, length + 1)
                with torch.no_grad():
                    out = base(input_ids=ids, use_cache=True)
                    hidden, cache = out.last_hidden_state, getattr(out, cache_arg)  # (B, length + 1, H)
                    root_scores = self._log_probs(hidden[:, :-1], ids[:, 1:]).cpu().numpy()  # (B, length)
                extensions = [families[f][1] for f in batch]
                if self._reusable_cache(cache):
                    scored = self._extend(cache, cache_arg, hidden, root_scores, extensions)
                else:  # e.g. Gemma's sliding-window layers keep only their last window: score extensions whole
                    scored = [self.score([np.concatenate([roots[b, :n], c]) for n, c in extensions[b]])
                              for b in range(len(batch))]
                yield [(f, root_scores[b], scored[b]) for b, f in enumerate(batch)]

    def _extend(self, cache: Any, cache_arg: str, hidden: Any, root_scores: np.ndarray,
                extensions: list[Sequence[tuple[int, np.ndarray]]]) -> list[list[np.ndarray]]:
        """The extensions of a batch of roots from the roots' KV cache: rows of equal (n, length) run together."""
        import torch

        full = [(layer.keys, layer.values) for layer in cache.layers]  # (B, heads, length + 1, head_dim) each
        groups: dict[tuple[int, int], list[tuple[int, int]]] = {}
        for b, family in enumerate(extensions):
            for e, (n, continuation) in enumerate(family):
                if not 0 <= n < hidden.shape[1] or len(continuation) == 0:
                    raise ValueError(f"extension {e}: prefix {n} of a root of {hidden.shape[1] - 1} tokens, "
                                     f"{len(continuation)} more")
                groups.setdefault((n, len(continuation)), []).append((b, e))
        out: list[list[np.ndarray | None]] = [[None] * len(family) for family in extensions]
        for (n, _), rows in groups.items():
            owner = torch.as_tensor([b for b, _ in rows], device=hidden.device)
            for layer, (keys, values) in zip(cache.layers, full):  # each row's root cache, cut to BOS + n tokens
                layer.keys, layer.values = keys[owner, :, : n + 1], values[owner, :, : n + 1]
            tokens = torch.as_tensor(np.stack([np.asarray(extensions[b][e][1], dtype=np.int64) for b, e in rows]))
            tokens = tokens.to(hidden.device)  # (R, length)
            with torch.no_grad():
                more = self.model.base_model(input_ids=tokens, use_cache=True, **{cache_arg: cache}).last_hidden_state
                states = torch.cat([hidden[owner, n : n + 1], more[:, :-1]], dim=1)  # (R, length, H)
                scores = self._log_probs(states, tokens).cpu().numpy()
            for row, (b, e) in enumerate(rows):
                out[b][e] = np.concatenate([root_scores[b, :n], scores[row]])
        return out  # type: ignore[return-value]


class VLLMScorer:
    """Scores with vLLM's ``prompt_logprobs`` (GPU; tensor parallel over ``tensor_parallel_size`` GPUs).

    vLLM projects onto the vocabulary with the model's own head, in the model's dtype: with bfloat16 the
    logits are rounded before the log-sum-exp, unlike :class:`TransformersScorer` (always fp32 there).
    """

    def __init__(self, model: str, tensor_parallel_size: int = 1, dtype: str = "float32",
                 gpu_memory_utilization: float = 0.85, max_model_len: int = 4096, folder: Path | None = None):
        from vllm import LLM

        self.name, self.dtype = model, dtype
        self.path = checkpoint(model, folder)
        self.llm = LLM(model=str(self.path), tensor_parallel_size=tensor_parallel_size, dtype=dtype,
                       gpu_memory_utilization=gpu_memory_utilization, max_model_len=max_model_len,
                       trust_remote_code=False, enable_prefix_caching=True)
        tokenizer = self.llm.get_tokenizer()
        bos = MODELS[model].bos if model in MODELS else tokenizer.bos_token
        self.bos_id = tokenizer.convert_tokens_to_ids(bos)
        self.fingerprint = fingerprint(self.path, dtype)

    def score(self, sequences: Sequence[np.ndarray], progress: bool = False) -> list[np.ndarray]:
        from vllm import SamplingParams
        from vllm.inputs import TokensPrompt

        prompts = [TokensPrompt(prompt_token_ids=[self.bos_id, *map(int, s)]) for s in sequences]
        params = SamplingParams(max_tokens=1, prompt_logprobs=0, detokenize=False)  # 0: only the actual token
        outputs = self.llm.generate(prompts, params, use_tqdm=progress)
        results = []
        for prompt, output in zip(prompts, outputs):
            ids = prompt["prompt_token_ids"]
            results.append(np.array([step[t].logprob for step, t in zip(output.prompt_logprobs[1:], ids[1:])]))
        return results


def make_scorer(model: str = DEFAULT_MODEL, backend: str = "transformers", device: str = "cpu",
                dtype: str = "float32", **options: Any) -> TransformersScorer | VLLMScorer:
    """The scorer of ``backend`` ("transformers" or "vllm") for ``model``."""
    if backend == "vllm":
        return VLLMScorer(model, dtype=dtype, **options)
    if backend != "transformers":
        raise ValueError(f"backend must be 'transformers' or 'vllm', not {backend!r}")
    return TransformersScorer(model, device=device, dtype=dtype, **options)


def scores_dir(scorer: Any, folder: Path | None = None) -> Path:
    return (folder or cache.cache_dir()) / "scores" / scorer.fingerprint[:24]


def score_cached(scorer: Any, sequences: Sequence[np.ndarray], folder: Path | None = None,
                 progress: bool = True, extends: dict[int, tuple[int, int]] | None = None) -> list[np.ndarray]:
    """``scorer.score`` with every pass stored under (model fingerprint, sha256 of its token ids).

    Passes already on disk are read back; the rest are scored and each written atomically as soon as its
    batch is done, so an interruption loses at most one batch. ``extends`` maps i -> (j, n) when
    sequences[i] starts with the first n tokens of sequences[j]: with a scorer that reuses KV caches
    (:meth:`TransformersScorer.score_extensions`) those passes are scored together with j's, and only their
    continuations run. Every other missing pass is sorted and packed with all the others.
    """
    root = scores_dir(scorer, folder)
    keys = [hashlib.sha256(np.asarray(s, dtype=np.int64).tobytes()).hexdigest() for s in sequences]
    paths = [root / key[:2] / f"{key}.npy" for key in keys]

    def read(path: Path, n: int) -> np.ndarray:  # a pass holds exactly one score per token
        scores = np.load(path, allow_pickle=False)
        if scores.shape != (n,):
            raise ValueError(f"{scores.shape} scores for a pass of {n} tokens")
        return scores

    results: list[np.ndarray | None] = [cache.read_or_set_aside(p, functools.partial(read, n=len(s)))
                                        for p, s in zip(paths, sequences)]
    missing = [i for i, r in enumerate(results) if r is None]
    bar = tqdm(total=sum(len(sequences[i]) for i in missing), unit="tok", unit_scale=True,
               desc=f"scoring ({scorer.name})", disable=not progress or not missing)

    def store(done: Iterable[tuple[int, np.ndarray]]) -> None:
        for i, log_probs in done:
            buffer = io.BytesIO()
            np.save(buffer, np.asarray(log_probs, dtype=np.float64))
            cache.atomic_write_bytes(paths[i], buffer.getvalue())
            results[i] = log_probs
            bar.update(len(sequences[i]))

    families: dict[int, list[int]] = {}  # root j -> the missing passes that extend it
    if extends and hasattr(scorer, "score_extensions"):
        for i in missing:
            if i in extends:
                families.setdefault(extends[i][0], []).append(i)
    extending = {i for members in families.values() for i in members}
    plain = [i for i in missing if i not in extending and i not in families]  # a root is scored with its extensions
    roots = list(families)
    reach = [len(sequences[j]) if results[j] is None else max(extends[i][1] for i in families[j]) for j in roots]
    work = [(np.asarray(sequences[j])[:r], [(extends[i][1], np.asarray(sequences[i])[extends[i][1]:]) for i in families[j]])
            for j, r in zip(roots, reach)]  # a root already on disk runs again only as far as its extensions need
    for done in (scorer.score_extensions(work) if work else []):
        for f, root_scores, scores in done:
            j = roots[f]
            store(zip(families[j], scores))
            if results[j] is None:
                store([(j, root_scores)])
    if hasattr(scorer, "score_batches"):  # packed over every missing pass, stored a batch at a time
        for done in scorer.score_batches([sequences[i] for i in plain]):
            store((plain[k], log_probs) for k, log_probs in done)
    else:  # a scorer that takes a list (vLLM batches it itself): a few passes a call, stored after each call
        group = max(1, getattr(scorer, "batch_tokens", 1 << 16) // max((len(sequences[i]) for i in plain), default=1))
        for start in range(0, len(plain), group):
            chunk = plain[start : start + group]
            store(zip(chunk, scorer.score([sequences[i] for i in chunk])))
    bar.close()
    return results  # type: ignore[return-value]
