"""The alphabets chapter 02 counts in, in bounded memory: coarse tokens, characters, and truncated corpora.

Two-point MI (paper Sec. 3, Appx. B) is counted on one flat array of ids with document offsets
(``offsets[k]:offsets[k+1]`` is document k), the layout of :class:`l2m.tokenizer.TokenArray`. On BPE
tokens the pair table has V² cells, far more than a small corpus has pairs, so chapter 02 also counts
in two coarser alphabets where V² ≪ N:

- :func:`top_k_alphabet`: the k most frequent tokens, all others one class k;
- :func:`character_alphabet`: the characters of the texts, as Ebeling–Pöschel and Lin–Tegmark measured;

and :func:`truncate_documents` keeps the same-length prefix of every document for a smaller run.

At the paper's scale (PG19, ≈3·10⁹ LLaMA-3 tokens, Appx. B) neither the ids nor any temporary of their
length may live in memory: the input may be a memory map, the work runs over blocks of it, and every
corpus-sized output comes from :func:`l2m.cache.scratch_array`, in memory up to a quarter of ``memory_budget``
bytes and a memory map of an unlinked file past it. The ids are those of the plain in-memory one-liners
(tests/test_alphabets.py compares them); only their dtype is the smallest that holds the alphabet
(uint16 up to 65,536 symbols, else uint32), both of which :mod:`l2m.paircount` counts.
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from . import cache
from .paircount import DEFAULT_MEMORY_BUDGET

CODE_POINTS = 0x110000  # every Unicode code point is below this


def id_dtype(alphabet_size: int) -> np.dtype:
    """The smallest unsigned dtype that holds ids 0 .. alphabet_size − 1 (uint16 or uint32)."""
    return np.dtype(np.uint16 if alphabet_size <= 1 << 16 else np.uint32)


def _block_items(memory_budget: int, bytes_per_item: int) -> int:
    """Items per block when a block's temporaries take ``bytes_per_item`` each, within a quarter of the budget."""
    return max(1, memory_budget // (4 * bytes_per_item))


def token_counts(tokens: np.ndarray, memory_budget: int = DEFAULT_MEMORY_BUDGET) -> np.ndarray:
    """np.bincount(tokens), summed over blocks: a bincount of the whole array would copy it to int64 first."""
    counts = np.zeros(0, np.int64)
    step = _block_items(memory_budget, 8)  # np.bincount casts a block to intp
    for start in range(0, len(tokens), step):
        block = np.bincount(tokens[start : start + step])
        if len(block) > len(counts):
            counts = np.concatenate((counts, np.zeros(len(block) - len(counts), np.int64)))
        counts[: len(block)] += block
    return counts


def top_k_alphabet(tokens: np.ndarray, k: int, memory_budget: int = DEFAULT_MEMORY_BUDGET) -> np.ndarray:
    """Tokens relabelled by frequency rank (ties by id), the k most frequent kept and all others one class k.

    A coarser alphabet makes V² ≪ N, so the pair table is well sampled (chapter 02). The counts and the
    relabelling run over blocks of ``tokens`` (which may be memory-mapped); the result, of dtype
    :func:`id_dtype` of k + 1, is a :func:`l2m.cache.scratch_array`.
    """
    counts = token_counts(tokens, memory_budget)
    order = np.argsort(-counts, kind="stable")  # the most frequent first, ties by id
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    dtype = id_dtype(k + 1)
    label = np.minimum(rank, k).astype(dtype)  # token id → its class
    out = cache.scratch_array(len(tokens), dtype, memory_budget // 4)
    step = _block_items(memory_budget, 8 + dtype.itemsize)  # the gather's intp indices and its output
    for start in range(0, len(tokens), step):
        np.take(label, tokens[start : start + step], out=out[start : start + step])
    return out


def _code_point_blocks(text: str, step: int) -> Iterator[tuple[int, np.ndarray]]:
    """(start, code points of text[start:start + step] as uint32) over ``text``: never a whole book's copy."""
    for start in range(0, len(text), step):
        yield start, np.frombuffer(text[start : start + step].encode("utf-32-le"), dtype=np.uint32)


def character_alphabet(texts: Sequence[str],
                       memory_budget: int = DEFAULT_MEMORY_BUDGET) -> tuple[np.ndarray, np.ndarray, int]:
    """Characters of each text as ids 0..V−1 (by code point order), concatenated, with offsets and V.

    On characters V² ≪ N even for a small corpus, so the pair table is well sampled: how
    Ebeling–Pöschel and Lin–Tegmark measured two-point MI of text. Two passes over ``texts``, one text
    in memory at a time (:meth:`l2m.corpus.Corpus.text_sequence` reads each from disk; a list works
    too): the first finds the code points used and each text's length (a str's length counts code
    points), the second writes each text's ids into a :func:`l2m.cache.scratch_array` of dtype
    :func:`id_dtype`. Returns (ids, offsets (n_texts + 1,) int64, V).
    """
    step = _block_items(memory_budget, 4 + 8 + 4)  # a block's UTF-32 bytes, intp indices and ids
    used = np.zeros(CODE_POINTS, bool)
    lengths = np.zeros(len(texts), np.int64)
    for i, text in enumerate(texts):
        for _, points in _code_point_blocks(text, step):
            used[points] = True
        lengths[i] = len(text)
    alphabet = np.flatnonzero(used)  # the code points seen, in order: a character's id is its index here
    dtype = id_dtype(len(alphabet))
    label = np.zeros(CODE_POINTS, dtype)
    label[alphabet] = np.arange(len(alphabet))
    offsets = np.concatenate(([0], np.cumsum(lengths))).astype(np.int64)
    ids = cache.scratch_array(int(offsets[-1]), dtype, memory_budget // 4)
    for i, text in enumerate(texts):
        for start, points in _code_point_blocks(text, step):
            begin = offsets[i] + start
            np.take(label, points, out=ids[begin : begin + len(points)])
    return ids, offsets, len(alphabet)


def truncate_documents(tokens: np.ndarray, offsets: np.ndarray, max_tokens: int,
                       memory_budget: int = DEFAULT_MEMORY_BUDGET) -> tuple[np.ndarray, np.ndarray]:
    """Keep at most ``max_tokens`` in all, as the same-length prefix of every document (0 keeps all).

    A prefix of each document (not the first documents whole) keeps every author in a small run. The
    prefixes are copied one document at a time into a :func:`l2m.cache.scratch_array`.
    """
    offsets = np.asarray(offsets, dtype=np.int64)
    lengths = np.diff(offsets)
    if max_tokens <= 0 or lengths.sum() <= max_tokens:
        return tokens, offsets
    low, high = 0, int(lengths.max())  # largest per-document cap whose total fits the budget
    while low < high:
        cap = (low + high + 1) // 2
        low, high = (cap, high) if np.minimum(lengths, cap).sum() <= max_tokens else (low, cap - 1)
    kept = np.minimum(lengths, low)
    new_offsets = np.concatenate(([0], np.cumsum(kept))).astype(np.int64)
    out = cache.scratch_array(int(new_offsets[-1]), tokens.dtype, memory_budget // 4)
    for start, begin, end in zip(offsets[:-1], new_offsets[:-1], new_offsets[1:]):
        out[begin:end] = tokens[start : start + end - begin]
    return out, new_offsets
