"""Tokenizing a corpus as a stream: rows of a ``datasets`` dataset (streamed or memory-mapped) to a token file.

At the paper's scale (PG19: 28k books, ≈3·10⁹ LLaMA-3 tokens; paper Appx. B) neither the texts nor
the ids fit in memory. :func:`tokenize_rows` reads rows one at a time from any iterable of dicts, a
``datasets.IterableDataset`` (``load_dataset(..., streaming=True)``) or a memory-mapped
``datasets.Dataset`` (Arrow on disk), cuts each text where the BPE pre-tokenizer cuts anyway
(:func:`l2m.tokenizer.split_text`), encodes batches of about ``batch_chars`` characters and appends
the ids to a file, with a tqdm progress bar. At most one batch of text and its ids are held; the
tokens are those :func:`l2m.tokenizer.tokenize` gives for the same texts, and the result is read
back memory-mapped, the layout of :class:`l2m.tokenizer.TokenArray` (tokens, offsets) that
:mod:`l2m.twopoint` counts.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterable

import numpy as np
from tqdm import tqdm

from .tokenizer import BATCH_CHARS, CHUNK_CHARS, write_token_ids


def tokenize_rows(rows: Iterable[dict], tok: Any, path: Path, text_column: str = "text", total: int | None = None,
                  batch_chars: int = BATCH_CHARS, chunk_chars: int = CHUNK_CHARS) -> tuple[np.ndarray, np.ndarray]:
    """Tokens of every row's ``text_column`` written to ``path`` (no BOS/EOS), and the rows' offsets.

    ``path`` is written under a temporary name and renamed when complete; ``total`` (rows) only
    sizes the progress bar. Returns (tokens memory-mapped read-only, offsets (n_rows + 1,) int64).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    dtype = np.dtype(np.uint16 if len(tok) <= 1 << 16 else np.uint32)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as out:
        rows = tqdm(rows, total=total, unit="doc", desc=f"tokenizing {path.stem}")
        counts = write_token_ids((row[text_column] for row in rows), tok, out, dtype, chunk_chars, batch_chars)
    os.replace(tmp, path)
    offsets = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
    tokens = np.asarray(np.memmap(path, dtype=dtype, mode="r")) if offsets[-1] else np.zeros(0, dtype)
    return tokens, offsets
