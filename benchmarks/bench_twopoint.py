"""Benchmark of the two-point pair counting (chapter 02, l2m.paircount): printed figures.

    python benchmarks/bench_twopoint.py                  # or: make bench (200M synthetic tokens, books x3)
    python benchmarks/bench_twopoint.py --tokens 20e6 --runs 1     # a quick try

1. A synthetic corpus at the paper's vocabulary: ``--tokens`` (default 200M) uint32 tokens over
   V = 128,000 with a Zipf law (exponent 1.1) and in-document dependence (a token repeats the one
   ``lag`` back, lag Zipf-distributed, half of the time), in documents of 100k tokens. It is written
   once, atomically, to ``<cache>/bench/`` and memory-mapped. All 13 distances 1..4096 are counted
   with the default memory budget (l2m.paircount.DEFAULT_MEMORY_BUDGET) in a child process, which
   prints its peak RSS (the mapped token file included) and tokens x distances per second.
2. Chapter 02's other work per distance at the ``paper`` preset (n_boot 50, n_shuffle 4), in the same
   child process and budget: both shuffles of the corpus (memory maps; the corpus-wide one dealt
   through buckets), the bootstrap's group counts at d = 16 (1024 groups of documents; past the
   budget they live in DuckDB) and a replicate's merge; then the whole of chapter 02's BPE curve per
   distance at this size and scaled to PG19 (3·10⁹ tokens: everything here is linear in the tokens).
3. The `books` corpus: all 13 distances with l2m.twopoint.two_point_mi against plain Python
   collections.Counters over pair tuples and over each member (how the paper's released code
   counts), both giving the same I(d) to 1e-9; ``--runs`` runs each, the median ratio is printed.
"""
from __future__ import annotations

import argparse
import collections
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from l2m import cache, corpus, paircount, tokenizer, twopoint
from l2m.entropy import grassberger_entropy

VOCAB = 128_000  # the LLaMA-3 vocabulary's size
DOC_TOKENS = 100_000  # a long book
CHUNK_DOCS = 50  # documents generated at once (5M tokens): bounds the generator's memory


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


def synthetic_path(n_tokens: int, seed: int = 0) -> Path:
    """The synthetic token file, written once (to a temporary name, then renamed) and reused."""
    path = cache.cache_dir() / "bench" / f"zipf-v{VOCAB}-n{n_tokens}-s{seed}.u32"
    if path.exists():
        return path
    from tqdm import tqdm

    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    ranks = np.arange(1, VOCAB + 1, dtype=float) ** -1.1
    cdf = np.cumsum(ranks / ranks.sum())
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    with open(tmp, "wb") as out, tqdm(total=n_tokens, unit="tok", unit_scale=True, desc="synthetic corpus") as bar:
        for start in range(0, n_tokens, CHUNK_DOCS * DOC_TOKENS):
            n = min(CHUNK_DOCS * DOC_TOKENS, n_tokens - start)
            fresh = np.minimum(np.searchsorted(cdf, rng.random(n)), VOCAB - 1).astype(np.uint32)  # (n,) Zipf draws
            lag = np.minimum(rng.zipf(1.5, n), 4096)  # how far back a repeated token looks
            position = np.arange(n) % DOC_TOKENS  # within its document: never copy across a boundary
            copy = (rng.random(n) < 0.5) & (lag <= position)
            chunk = fresh.copy()
            chunk[copy] = fresh[np.flatnonzero(copy) - lag[copy]]
            out.write(chunk.tobytes())
            bar.update(n)
    os.replace(tmp, path)
    return path


def count_synthetic(path: Path) -> None:
    """Child process: count all 13 distances of the mapped file and print the figures."""
    tokens = np.memmap(path, dtype=np.uint32, mode="r")
    offsets = np.append(np.arange(0, len(tokens), DOC_TOKENS), len(tokens)).astype(np.int64)
    distances = twopoint.DEFAULT_DISTANCES
    start = time.perf_counter()
    result = twopoint.two_point_mi(np.asarray(tokens), offsets, distances, VOCAB)
    seconds = time.perf_counter() - start
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(f"[twopoint] synthetic: {len(tokens):,} tokens (V = {VOCAB:,}, {len(offsets) - 1} documents, token file "
          f"{len(tokens) * 4 / 2**30:.2f} GB), {len(distances)} distances, budget "
          f"{paircount.DEFAULT_MEMORY_BUDGET / 2**30:.0f} GB, {os.cpu_count()} cores: {seconds:.0f} s "
          f"({seconds / len(distances):.1f} s per distance), "
          f"{len(tokens) * len(distances) / seconds / 1e6:.1f}M tokens x distances per second, "
          f"peak RSS {peak_gb:.2f} GB (target <= 2 GB + the token file)")
    print(f"[twopoint] synthetic I(d) at d = 1, 64, 4096: {result.mi[0]:.4f}, {result.mi[6]:.4f}, {result.mi[12]:.4f} nats")
    paper_preset_costs(np.asarray(tokens), offsets, seconds / len(distances))


def timed(work):
    start = time.perf_counter()
    value = work()
    return value, time.perf_counter() - start


def paper_preset_costs(tokens: np.ndarray, offsets: np.ndarray, count_s: float, d: int = 16, n_boot: int = 50,
                       n_shuffle: int = 4) -> None:
    """The rest of chapter 02's work at the paper preset, timed at one distance, and the total per distance."""
    budget = paircount.DEFAULT_MEMORY_BUDGET
    across, across_s = timed(lambda: twopoint.shuffle_across_corpus(tokens, offsets, 1, budget))
    del across
    within, within_s = timed(lambda: twopoint.shuffle_within_documents(tokens, offsets, 0, budget))
    del within
    groups = paircount.document_groups(offsets, 1024)
    counts, build_s = timed(lambda: paircount.group_counts(tokens, offsets, groups, d, VOCAB, memory_budget=budget))
    weights = twopoint.bootstrap_weights(len(groups) - 1, 2, np.random.default_rng(0))
    replicate_s = []
    for w in weights:
        start = time.perf_counter()
        table = counts.table(w)
        twopoint.table_mi(table, with_stderr=False)
        table.close()
        replicate_s.append(time.perf_counter() - start)
    where = "DuckDB on disk" if isinstance(counts, paircount.SpilledGroupCounts) else "memory"
    counts.close()
    replicate = float(np.median(replicate_s))
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(f"[twopoint] shuffles of the {len(tokens):,} tokens: across the corpus {across_s:.0f} s, within documents "
          f"{within_s:.0f} s; bootstrap at d = {d}: group counts of {len(groups) - 1} groups ({where}) {build_s:.0f} s, "
          f"a replicate's merge and Î {replicate:.1f} s (median of {len(replicate_s)}); peak RSS so far {peak_gb:.2f} GB")
    # the paper preset's BPE curve per distance: raw, equal pairs, within, n_shuffle across (7 counts); the bootstrap's
    # group counts of the corpus and of min(n_shuffle, n_boot) shuffles; n_boot replicates of raw and of baseline
    per_distance = (3 + n_shuffle) * count_s + (1 + min(n_shuffle, n_boot)) * build_s + 2 * n_boot * replicate
    shuffles = within_s + 2 * n_shuffle * across_s  # per corpus, not per distance (measure and the bootstrap each shuffle)
    scale = 3e9 / len(tokens)
    print(f"[twopoint] chapter 02 paper preset, one BPE curve (n_boot {n_boot}, n_shuffle {n_shuffle}), "
          f"{os.cpu_count()} cores: {per_distance / 60:.0f} min per distance + {shuffles / 60:.0f} min of shuffles here; "
          f"at PG19's 3e9 tokens about {per_distance * scale / 3600:.1f} h per distance, "
          f"{(13 * per_distance + shuffles) * scale / 3600:.0f} h for 13 distances, within the same budget")


def books_ratio(runs: int) -> None:
    books = corpus.load_corpus("books")
    token_array = tokenizer.tokenize(books)
    tokens, offsets = np.asarray(token_array.tokens), np.asarray(token_array.offsets)
    vocab, distances = token_array.vocab_size, twopoint.DEFAULT_DISTANCES
    print(f"[twopoint] books: {len(tokens):,} tokens in {len(offsets) - 1} documents, vocabulary {vocab:,}")
    ratios = []
    for run in range(runs):
        start = time.perf_counter()
        baseline = [counter_two_point(tokens, offsets, d) for d in distances]
        counter_s = time.perf_counter() - start
        start = time.perf_counter()
        ours = twopoint.two_point_mi(tokens, offsets, distances, vocab, with_stderr=False)  # Î alone, as the Counters
        ours_s = time.perf_counter() - start
        for (mi, n_pairs), our_mi, our_pairs in zip(baseline, ours.mi, ours.n_pairs):  # the same numbers
            assert n_pairs == our_pairs and abs(mi - our_mi) < 1e-9, (mi, our_mi)
        ratios.append(counter_s / ours_s)
        print(f"[twopoint] books run {run + 1}: Counters {counter_s:.1f} s, l2m.twopoint {ours_s:.2f} s, "
              f"all {len(distances)} distances, same I(d) to 1e-9 -> {ratios[-1]:.0f}x")
    print(f"[twopoint] books: median of {runs} runs {np.median(ratios):.0f}x faster than the Counters (target >= 60x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=float, default=200e6, help="synthetic corpus size (default 200M)")
    parser.add_argument("--runs", type=int, default=3, help="runs of the books comparison (median reported)")
    parser.add_argument("--skip-books", action="store_true", help="only the synthetic corpus")
    parser.add_argument("--count", help=argparse.SUPPRESS)  # child process: count this token file
    args = parser.parse_args()
    if args.count:
        count_synthetic(Path(args.count))
        return
    path = synthetic_path(int(args.tokens))
    subprocess.run([sys.executable, __file__, "--count", str(path)], check=True)  # its own peak RSS
    if not args.skip_books:
        books_ratio(args.runs)


if __name__ == "__main__":
    main()
