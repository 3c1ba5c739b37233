"""Pair counts of chapter 02 in bounded memory: blocks of the corpus, merged counts, spill to DuckDB.

Two-point MI (paper Appx. B, eqs. B.10–B.15) needs, at each distance d, how often every ordered pair
(w_i, w_{i+d}) occurs inside a document, or rather only the histogram of those counts (Grassberger's
estimator, :mod:`l2m.entropy`), the two marginals and the first-order standard error. At the paper's
scale (PG19, ≈3·10⁹ LLaMA-3 tokens, V = 128k) the pairs of one distance do not fit in memory, so:

- the left positions are cut into **blocks** of at most ``memory_budget / (4·BYTES_PER_PAIR)`` pairs
  (a block may hold part of one long document or many short ones; a pair belongs to the block of its
  left member, so no pair is lost or counted twice at a block's edge);
- each block is counted alone: one integer code w_i·V + w_{i+d} per pair, sorted, run lengths
  (for a small alphabet, V² ≤ :data:`DENSE_TABLE_LIMIT`, a dense ``bincount`` instead);
- the blocks' (code, count) tables are **merged** in memory (concatenated sorted runs, a stable
  sort that merges them, summed runs) while the distinct pairs fit in half the budget;
- beyond that the tables **spill** into DuckDB (embedded, from PyPI), whose GROUP BY over the
  codes runs out of core under a memory limit; the count histogram and the error's two sums are
  then SQL aggregates, and the distinct pairs never come back into Python.

Why numpy first and DuckDB only to spill, measured on 2 cores (40M Zipf pair codes over V = 128k,
6.5M distinct): numpy sort + run lengths 0.65 s; DuckDB insert 2.0 s + GROUP BY and histogram
2.3 s under a 500 MB limit. DuckDB is ~7× slower but never runs out of memory, so it only takes
the tables that no longer fit. Either way the histogram is the same integers, so Î(d) is exactly
the in-memory one; the spilled standard error differs in the last bits (summation order).

:func:`group_counts` keeps the counts of each group of whole documents at one distance, so a
bootstrap over documents reweights groups (a merge) instead of recounting the resampled corpus:
in memory one weighted ``bincount`` (:class:`GroupCounts`); when the (group, pair) entries outgrow the
budget, in DuckDB (:class:`SpilledGroupCounts`), one weighted GROUP BY out of core. Either gives, with
the bootstrap's weights, exactly the counts of the resampled corpus (tests/test_paircount.py).
The tables themselves, in memory and in DuckDB, and the statistics read off them live in :mod:`l2m.pairtables`.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .pairtables import PairTable, SpilledGroupCounts, SpilledPairTable, marginals

DEFAULT_MEMORY_BUDGET = 2 * 2**30  # bytes one distance's counting may hold (paper preset: 2 GB)
DENSE_TABLE_LIMIT = 1 << 22  # V² up to 4M cells: count a block with bincount (32 MB), else sort
BYTES_PER_PAIR = 32  # peak per pair of a block: its code, the sorted copy, run ends (int64), counts
BYTES_PER_ENTRY = 48  # per distinct pair kept: code + count, twice while merging, plus the merge order
BYTES_PER_GROUP_ENTRY = 64  # per (group, distinct pair) of GroupCounts: the tables, their merge (~56 B at its peak)


def code_dtype(vocab_size: int) -> np.dtype:
    """The narrowest unsigned integer holding every code w_i·V + w_{i+d}."""
    return np.dtype(np.uint32 if vocab_size * vocab_size < 2**32 else np.uint64)


def as_unsigned(tokens: np.ndarray) -> np.ndarray:
    """Tokens as uint16/uint32 (token arrays already are; a copy only for signed test arrays)."""
    tokens = np.asarray(tokens)
    return tokens if tokens.dtype in (np.uint16, np.uint32) else tokens.astype(np.uint32)


def left_segments(offsets: np.ndarray, span: int, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
    """[start, stop) ranges of left positions i in [lo, hi), each inside one document and > span before its end."""
    offsets = np.asarray(offsets, dtype=np.int64)
    first = max(int(np.searchsorted(offsets, lo, side="right")) - 1, 0)  # the document holding lo
    last = min(int(np.searchsorted(offsets, hi, side="left")), len(offsets) - 1)  # documents first..last-1 overlap
    starts = np.maximum(offsets[first:last], lo)
    stops = np.minimum(offsets[first + 1 : last + 1] - span, hi)
    keep = stops > starts
    return starts[keep], stops[keep]


def block_codes(tokens: np.ndarray, starts: np.ndarray, stops: np.ndarray, d: int, vocab_size: int) -> np.ndarray:
    """Codes w_i·V + w_{i+d} of the left positions in the segments, unsorted (no left/right copies)."""
    dtype = code_dtype(vocab_size)
    codes = np.empty(int((stops - starts).sum()), dtype)
    pos = 0
    for a, b in zip(starts.tolist(), stops.tolist()):
        out = codes[pos : pos + b - a]
        np.multiply(tokens[a:b], dtype.type(vocab_size), out=out)
        np.add(out, tokens[a + d : b + d], out=out)
        pos += b - a
    return codes


def run_lengths(codes: np.ndarray, vocab_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Distinct codes, sorted, and how often each occurs."""
    if vocab_size * vocab_size <= DENSE_TABLE_LIMIT:
        table = np.bincount(codes, minlength=vocab_size * vocab_size)
        seen = np.flatnonzero(table)
        return seen.astype(code_dtype(vocab_size)), table[seen]
    if len(codes) == 0:
        return codes, np.zeros(0, np.int64)
    codes.sort()  # in place: the block's own buffer
    ends = np.append(np.flatnonzero(codes[1:] != codes[:-1]), len(codes) - 1)  # last index of each run
    return codes[ends], np.diff(ends, prepend=-1)


def merge_tables(tables: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """One (codes, counts) table from several, each sorted by code: counts of equal codes summed."""
    if len(tables) == 1:
        return tables[0]
    codes = np.concatenate([t[0] for t in tables])
    counts = np.concatenate([t[1] for t in tables])
    order = np.argsort(codes, kind="stable")  # timsort: the sorted runs are merged, not re-sorted
    codes, counts = codes[order], counts[order]
    if len(codes) == 0:
        return codes, counts
    starts = np.flatnonzero(np.concatenate(([True], codes[1:] != codes[:-1])))
    return codes[starts], np.add.reduceat(counts, starts)

def count_pairs(tokens: np.ndarray, offsets: np.ndarray, d: int, vocab_size: int, span: int | None = None,
                memory_budget: int = DEFAULT_MEMORY_BUDGET, lo: int = 0, hi: int | None = None,
                spill_dir: Path | None = None, block_pairs: int | None = None) -> PairTable | SpilledPairTable:
    """Counts of the in-document pairs at distance d whose left member lies in [lo, hi), in bounded memory.

    ``span`` (≥ d) keeps only left positions more than ``span`` before their document's end (the
    equal-pairs curve of chapter 02). Blocks of at most ``memory_budget / (4·BYTES_PER_PAIR)``
    pairs are counted one at a time and merged; when the distinct pairs outgrow half the budget
    the tables spill to DuckDB (in a temporary folder under ``spill_dir``; call ``close()``).
    ``block_pairs`` sets the block size directly (the tests cut a corpus into many small blocks).
    """
    tokens = as_unsigned(tokens)
    hi = int(offsets[-1]) if hi is None else hi
    span = d if span is None else span
    block_pairs = block_pairs or max(int(memory_budget // (4 * BYTES_PER_PAIR)), 1)  # a quarter of the budget
    max_entries = max(int(memory_budget // (2 * BYTES_PER_ENTRY)), 1)
    pending: list[tuple[np.ndarray, np.ndarray]] = []
    spilled: SpilledPairTable | None = None
    start = lo
    while start < hi:  # a block: left positions [start, stop) holding about block_pairs pairs
        stop = min(start + block_pairs, hi)
        starts, stops = left_segments(offsets, span, start, stop)
        table = run_lengths(block_codes(tokens, starts, stops, d, vocab_size), vocab_size)
        start = stop
        if spilled is not None:
            spilled.append(*table)
            continue
        pending.append(table)
        if sum(len(c) for c, _ in pending) > max_entries:
            pending = [merge_tables(pending)]
            if len(pending[0][0]) > max_entries // 2:  # the distinct pairs alone fill the budget: spill
                spilled = SpilledPairTable.create(vocab_size, memory_budget, spill_dir)
                spilled.append(*pending.pop())
    if spilled is not None:
        return spilled
    codes, counts = merge_tables(pending) if pending else (np.zeros(0, code_dtype(vocab_size)), np.zeros(0, np.int64))
    return PairTable(codes, counts, *marginals(codes, counts, vocab_size))


@dataclass(frozen=True)
class GroupCounts:
    """Pair counts of each group of whole documents at one distance, in memory (:func:`group_counts`).

    Entries ``bounds[g]:bounds[g+1]`` hold group g's distinct pairs as positions in ``codes`` (the
    corpus's distinct codes) and counts.
    """

    codes: np.ndarray  # (D,) sorted distinct codes of the whole corpus
    index: np.ndarray  # (E,) position in codes of each entry
    counts: np.ndarray  # (E,) count of the entry's pair in its group
    bounds: np.ndarray  # (G + 1,) entries of each group
    vocab_size: int

    @classmethod
    def from_tables(cls, tables: list[tuple[np.ndarray, np.ndarray]], vocab_size: int) -> "GroupCounts":
        """From each group's (codes, counts) table, in group order."""
        if not tables:
            empty = np.zeros(0, code_dtype(vocab_size))
            return cls(empty, np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(1, np.int64), vocab_size)
        codes = merge_tables(tables)[0]
        entries = np.concatenate([c for c, _ in tables])
        bounds = np.concatenate(([0], np.cumsum([len(c) for c, _ in tables]))).astype(np.int64)
        counts = np.concatenate([n for _, n in tables])
        return cls(codes, np.searchsorted(codes, entries), counts, bounds, vocab_size)

    @property
    def n_groups(self) -> int:
        return len(self.bounds) - 1

    def table(self, weights: np.ndarray | None = None) -> PairTable:
        """The counts of a corpus holding group g ``weights[g]`` times (all ones: the corpus itself)."""
        weights = np.ones(self.n_groups, np.int64) if weights is None else np.asarray(weights, np.int64)
        per_entry = np.repeat(weights, np.diff(self.bounds)) * self.counts
        merged = np.bincount(self.index, weights=per_entry, minlength=len(self.codes)).astype(np.int64)
        seen = np.flatnonzero(merged)
        codes, counts = self.codes[seen], merged[seen]
        return PairTable(codes, counts, *marginals(codes, counts, self.vocab_size))

    def close(self) -> None:
        """Nothing to release (see :class:`SpilledGroupCounts`)."""

def group_counts(tokens: np.ndarray, offsets: np.ndarray, doc_bounds: np.ndarray, d: int, vocab_size: int,
                 span: int | None = None, memory_budget: int = DEFAULT_MEMORY_BUDGET,
                 spill_dir: Path | None = None) -> GroupCounts | SpilledGroupCounts:
    """The pair counts at distance d of each group ``doc_bounds[g]:doc_bounds[g+1]`` of whole documents.

    Half of ``memory_budget`` counts one group at a time (:func:`count_pairs`); the other half holds
    the groups' tables (:class:`GroupCounts`, at :data:`BYTES_PER_GROUP_ENTRY` bytes an entry) until
    they outgrow it, and from then on DuckDB holds them (:class:`SpilledGroupCounts`, its memory limit
    that same half; call ``close()``). A group too large to count in memory is itself spilled and its
    merged pairs streamed into DuckDB. Either kind gives, for bootstrap weights, exactly the counts
    of the resampled corpus.
    """
    offsets = np.asarray(offsets, dtype=np.int64)
    half = memory_budget // 2
    tables: list[tuple[np.ndarray, np.ndarray]] = []
    entries = 0
    spilled: SpilledGroupCounts | None = None

    def spill() -> SpilledGroupCounts:
        moved = SpilledGroupCounts(vocab_size, len(doc_bounds) - 1, memory_budget, spill_dir)
        for k, kept in enumerate(tables):
            moved.append(k, *kept)
        tables.clear()
        return moved

    try:
        for g, (g0, g1) in enumerate(zip(doc_bounds[:-1].tolist(), doc_bounds[1:].tolist())):
            table = count_pairs(tokens, offsets, d, vocab_size, span, half, int(offsets[g0]), int(offsets[g1]),
                                spill_dir)
            if isinstance(table, SpilledPairTable):  # this group alone outgrows memory
                spilled = spilled or spill()
                try:
                    for codes, counts in table.batches():
                        spilled.append(g, codes, counts)
                finally:
                    table.close()
                continue
            if spilled is None and (entries + len(table.codes)) * BYTES_PER_GROUP_ENTRY > half:
                spilled = spill()
            if spilled is not None:
                spilled.append(g, table.codes, table.counts)
            else:
                tables.append((table.codes, table.counts))
                entries += len(table.codes)
    except BaseException:
        if spilled is not None:
            spilled.close()
        raise
    return spilled if spilled is not None else GroupCounts.from_tables(tables, vocab_size)


def document_groups(offsets: np.ndarray, max_groups: int) -> np.ndarray:
    """Boundaries (in documents) of at most ``max_groups`` groups of whole documents of about equal tokens.

    With at most ``max_groups`` documents every document is its own group: the bootstrap over
    groups is then the bootstrap over documents.
    """
    offsets = np.asarray(offsets, dtype=np.int64)
    n_docs = len(offsets) - 1
    if n_docs <= max_groups:
        return np.arange(n_docs + 1, dtype=np.int64)
    targets = np.linspace(0, offsets[-1], max_groups + 1)[1:-1]
    cuts = np.searchsorted(offsets, targets)
    return np.unique(np.concatenate(([0], cuts, [n_docs]))).astype(np.int64)
