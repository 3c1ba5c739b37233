"""Benchmark of the two-point pair counting (chapter 02): printed figures, one run.

    python benchmarks/bench_twopoint.py            # or: make bench

Our counting (sorted integer pair codes, in-document pairs, l2m.twopoint.two_point_mi) against
plain Python collections.Counters over pair tuples and over each member, how the paper's released
code counts, on the same tokens of the whole `books` corpus; both then take the same Grassberger
entropies and must give the same Î(d). The Counters are timed on three distances (seconds each);
ours on the same three, then on all default distances for the throughput.
Peak memory of our counting is traced with tracemalloc (numpy reports its buffers to it).
"""
from __future__ import annotations

import collections
import time
import tracemalloc

import numpy as np

from l2m import corpus, tokenizer, twopoint
from l2m.entropy import grassberger_entropy

SAMPLE_DISTANCES = (1, 64, 4096)


def counter_two_point(tokens: np.ndarray, offsets: np.ndarray, d: int) -> tuple[float, int]:
    """The baseline: Counters of (w_i, w_{i+d}) tuples and of each member, then the same entropies."""
    joint: collections.Counter = collections.Counter()
    left: collections.Counter = collections.Counter()
    right: collections.Counter = collections.Counter()
    for start, end in zip(offsets[:-1].tolist(), offsets[1:].tolist()):
        doc = tokens[start:end].tolist()
        joint.update(zip(doc[:-d], doc[d:]))
        left.update(doc[:-d])
        right.update(doc[d:])
    entropy = lambda c: grassberger_entropy(np.fromiter(c.values(), dtype=np.int64, count=len(c)))[0]
    return entropy(left) + entropy(right) - entropy(joint), sum(joint.values())


def main() -> None:
    books = corpus.load_corpus("books")
    token_array = tokenizer.tokenize(books)
    tokens, offsets = np.asarray(token_array.tokens), np.asarray(token_array.offsets)
    vocab = token_array.vocab_size
    print(f"[twopoint] books: {len(tokens):,} tokens in {len(offsets) - 1} documents, vocabulary {vocab:,}")

    start = time.perf_counter()
    baseline = [counter_two_point(tokens, offsets, d) for d in SAMPLE_DISTANCES]
    counter_s = time.perf_counter() - start

    start = time.perf_counter()
    ours = twopoint.two_point_mi(tokens, offsets, SAMPLE_DISTANCES, vocab)
    ours_s = time.perf_counter() - start
    for (mi, n_pairs), our_mi, our_pairs in zip(baseline, ours.mi, ours.n_pairs):  # the same numbers
        assert n_pairs == our_pairs and abs(mi - our_mi) < 1e-9, (mi, our_mi)

    tracemalloc.start()
    start = time.perf_counter()
    full = twopoint.two_point_mi(tokens, offsets, twopoint.DEFAULT_DISTANCES, vocab)
    full_s = time.perf_counter() - start
    peak_gb = tracemalloc.get_traced_memory()[1] / 2**30
    tracemalloc.stop()

    print(f"[twopoint] Counters over pair tuples, d in {SAMPLE_DISTANCES}: {counter_s:.1f} s (same I(d) to 1e-9)")
    print(f"[twopoint] l2m.twopoint, same distances: {ours_s:.2f} s -> {counter_s / ours_s:.0f}x faster (target >= 20x)")
    print(f"[twopoint] all {len(full.distances)} distances 1..4096: {full_s:.1f} s, "
          f"{len(tokens) * len(full.distances) / full_s / 1e6:.1f}M tokens x distances per second, "
          f"peak traced memory {peak_gb:.2f} GB (target < 2 GB)")


if __name__ == "__main__":
    main()
