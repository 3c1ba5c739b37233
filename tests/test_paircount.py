"""Block-wise pair counting against collections.Counter, the DuckDB spill, and the bootstrap by reweighting groups."""
import collections

import numpy as np
import pytest

from l2m import paircount, pairtables, twopoint


def zipf_documents(lengths, vocab: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Zipf tokens with in-document dependence: each token repeats an earlier one of its document half the time."""
    rng = np.random.default_rng(seed)
    docs = []
    for length in lengths:
        doc = np.minimum(rng.zipf(1.3, length), vocab) - 1
        copy = rng.random(length) < 0.5
        back = rng.integers(1, 40, length)
        for i in np.flatnonzero(copy & (np.arange(length) >= back)):
            doc[i] = doc[i - back[i]]
        docs.append(doc)
    offsets = np.concatenate(([0], np.cumsum(lengths))).astype(np.int64)
    return np.concatenate(docs).astype(np.uint32), offsets


def counter_pairs(tokens, offsets, d, span=None):
    """The reference: a Counter of (w_i, w_{i+d}) tuples over every document, as the paper's released code."""
    span = d if span is None else span
    joint = collections.Counter()
    for s, e in zip(offsets[:-1].tolist(), offsets[1:].tolist()):
        doc = tokens[s:e].tolist()
        joint.update((doc[i], doc[i + d]) for i in range(max(len(doc) - span, 0)))
    return joint


def as_counter(table, vocab):
    return collections.Counter({(int(c) // vocab, int(c) % vocab): int(n) for c, n in zip(table.codes, table.counts)})


LENGTHS = [3, 700, 40, 2500, 1, 120, 90, 5000, 64, 300]  # documents shorter than d, longer than a block


@pytest.mark.parametrize("dense_limit", [paircount.DENSE_TABLE_LIMIT, 0])
@pytest.mark.parametrize("vocab", [30, 5000])  # dense bincount blocks, sorted-code blocks
def test_chunked_counts_equal_counter(vocab, dense_limit, monkeypatch):
    monkeypatch.setattr(paircount, "DENSE_TABLE_LIMIT", dense_limit)
    tokens, offsets = zipf_documents(LENGTHS, vocab, seed=1)
    for d in (1, 7, 64, 1000):
        reference = counter_pairs(tokens, offsets, d)
        one_shot = paircount.count_pairs(tokens, offsets, d, vocab)
        assert as_counter(one_shot, vocab) == reference
        for block_pairs in (500, 50, 5):  # blocks smaller than d, documents longer than a block
            chunked = paircount.count_pairs(tokens, offsets, d, vocab, block_pairs=block_pairs)
            assert np.array_equal(chunked.codes, one_shot.codes) and np.array_equal(chunked.counts, one_shot.counts)
            assert np.array_equal(chunked.left, one_shot.left) and np.array_equal(chunked.right, one_shot.right)
        left = collections.Counter()
        for (x, _), n in reference.items():
            left[x] += n
        assert dict(enumerate(one_shot.left.tolist())) == {x: left.get(x, 0) for x in range(vocab)}


def test_equal_pairs_span_matches_counter():
    tokens, offsets = zipf_documents(LENGTHS, 200, seed=2)
    table = paircount.count_pairs(tokens, offsets, 4, 200, span=64, block_pairs=37)
    assert as_counter(table, 200) == counter_pairs(tokens, offsets, 4, span=64)


def test_blocks_cover_every_left_position_once():
    offsets = np.array([0, 5, 5, 12, 40])
    starts, stops = paircount.left_segments(offsets, 3, 0, 40)
    assert list(zip(starts, stops)) == [(0, 2), (5, 9), (12, 37)]
    pieces = [paircount.left_segments(offsets, 3, lo, lo + 3) for lo in range(0, 40, 3)]  # blocks smaller than d
    covered = np.concatenate([np.arange(a, b) for s, t in pieces for a, b in zip(s, t)])
    assert np.array_equal(covered, np.concatenate([np.arange(0, 2), np.arange(5, 9), np.arange(12, 37)]))


def test_spill_to_duckdb_gives_the_same_mi(tmp_path, monkeypatch):
    pytest.importorskip("duckdb")
    tokens, offsets = zipf_documents(LENGTHS, 5000, seed=3)
    one_shot = paircount.count_pairs(tokens, offsets, 2, 5000)
    budget = 4 * paircount.BYTES_PER_PAIR * 400  # blocks of 400 pairs; distinct pairs soon outgrow the rest
    spilled = paircount.count_pairs(tokens, offsets, 2, 5000, memory_budget=budget, spill_dir=tmp_path)
    try:
        assert isinstance(spilled, paircount.SpilledPairTable) and spilled.n_pairs == one_shot.n_pairs
        values, multiplicities = spilled.histogram()
        expected = np.bincount(one_shot.counts)
        assert np.array_equal(values, np.flatnonzero(expected)) and np.array_equal(multiplicities, expected[values])
        assert spilled.stderr() == pytest.approx(one_shot.stderr(), rel=1e-12)
        assert twopoint.table_mi(spilled)[0] == twopoint.table_mi(one_shot)[0]  # the same histogram: the same Î
    finally:
        spilled.close()
    assert list(tmp_path.iterdir()) == []  # the database went with close()


def test_two_point_mi_does_not_depend_on_the_budget():
    tokens, offsets = zipf_documents(LENGTHS, 5000, seed=4)
    distances = (1, 2, 16, 256)
    whole = twopoint.two_point_mi(tokens, offsets, distances, 5000)
    small = twopoint.two_point_mi(tokens, offsets, distances, 5000, memory_budget=2 * 4 * paircount.BYTES_PER_PAIR * 300)
    assert np.array_equal(whole.mi, small.mi) and np.array_equal(whole.n_pairs, small.n_pairs)


@pytest.mark.parametrize("max_groups", [100, 4])  # one document a group; groups of several documents
def test_reweighted_groups_equal_a_recount_of_the_resampled_corpus(max_groups):
    tokens, offsets = zipf_documents(LENGTHS, 300, seed=5)
    groups = paircount.document_groups(offsets, max_groups)
    assert groups[0] == 0 and groups[-1] == len(LENGTHS) and len(groups) - 1 <= max_groups
    weights = twopoint.bootstrap_weights(len(groups) - 1, 3, np.random.default_rng(0))
    for d, span in ((1, None), (16, None), (4, 64)):
        counts = paircount.group_counts(tokens, offsets, groups, d, 300, span)
        whole = paircount.count_pairs(tokens, offsets, d, 300, span)
        assert np.array_equal(counts.table().codes, whole.codes) and np.array_equal(counts.table().counts, whole.counts)
        for w in weights:
            picks = np.repeat(np.arange(len(w)), w)  # the resampled corpus: group g w[g] times
            docs = [tokens[offsets[k] : offsets[k + 1]] for g in picks for k in range(groups[g], groups[g + 1])]
            sample_offsets = np.concatenate(([0], np.cumsum([len(x) for x in docs]))).astype(np.int64)
            sample = np.concatenate(docs)
            assert as_counter(counts.table(w), 300) == counter_pairs(sample, sample_offsets, d, span)
            recount = twopoint.table_mi(paircount.count_pairs(sample, sample_offsets, d, 300, span))
            assert twopoint.table_mi(counts.table(w)) == recount  # the same Î, stderr, plug-in and pairs


def test_spilled_group_counts_equal_the_in_memory_ones(tmp_path, monkeypatch):
    pytest.importorskip("duckdb")
    monkeypatch.setenv("L2M_CACHE", str(tmp_path))
    tokens, offsets = zipf_documents(LENGTHS, 300, seed=6)
    groups = paircount.document_groups(offsets, 100)
    weights = twopoint.bootstrap_weights(len(groups) - 1, 3, np.random.default_rng(1))
    for d, span in ((1, None), (16, None), (4, 64)):
        in_memory = paircount.group_counts(tokens, offsets, groups, d, 300, span)
        with monkeypatch.context() as patch:  # ~2000 entries fit the budget, ~3000 are made: the first groups move over
            patch.setattr(paircount, "BYTES_PER_GROUP_ENTRY", paircount.DEFAULT_MEMORY_BUDGET // 2000)
            spilled = paircount.group_counts(tokens, offsets, groups, d, 300, span)
        assert isinstance(in_memory, paircount.GroupCounts) and isinstance(spilled, paircount.SpilledGroupCounts)
        # and with groups too large to count in memory: each group's own spill streamed into the entries
        tiny = paircount.group_counts(tokens, offsets, groups, d, 300, span, memory_budget=2 * 4 * paircount.BYTES_PER_PAIR * 100)
        assert isinstance(tiny, paircount.SpilledGroupCounts)
        try:
            for w in [None, *weights]:
                expected, tables = in_memory.table(w), [spilled.table(w), tiny.table(w)]
                for table in tables:  # both open at once: neither overwrites the other
                    assert np.array_equal(table.left, expected.left) and np.array_equal(table.right, expected.right)
                    assert [a.tolist() for a in table.histogram()] == [a.tolist() for a in expected.histogram()]
                    assert twopoint.table_mi(table, with_stderr=False)[0] == twopoint.table_mi(expected, with_stderr=False)[0]
                    assert table.stderr() == pytest.approx(expected.stderr(), rel=1e-12)
                    table.close()
        finally:
            spilled.close()
            tiny.close()
    assert list((tmp_path / "scratch").iterdir()) == []  # every database went with its close()


def test_open_replicates_keep_their_own_counts(tmp_path, monkeypatch):
    pytest.importorskip("duckdb")
    monkeypatch.setenv("L2M_CACHE", str(tmp_path))
    tokens, offsets = zipf_documents(LENGTHS, 300, seed=8)
    groups = paircount.document_groups(offsets, 100)  # one document a group
    in_memory = paircount.group_counts(tokens, offsets, groups, 2, 300)
    monkeypatch.setattr(paircount, "BYTES_PER_GROUP_ENTRY", 10**6)  # spill at once
    counts = paircount.group_counts(tokens, offsets, groups, 2, 300)
    first, second = np.eye(len(groups) - 1, dtype=np.int64)[[0, 7]] * 2  # document 0 twice; document 7 twice
    try:
        a, b = counts.table(first), counts.table(second)  # b made while a is open
        assert (a.n_pairs, b.n_pairs) == (2 * (LENGTHS[0] - 2), 2 * (LENGTHS[7] - 2))
        for table, w in ((a, first), (b, second)):
            assert [x.tolist() for x in table.histogram()] == [x.tolist() for x in in_memory.table(w).histogram()]
        a.close()
        assert [x.tolist() for x in b.histogram()] == [x.tolist() for x in in_memory.table(second).histogram()]
        b.close()
    finally:
        counts.close()


def test_bootstrap_does_not_depend_on_where_the_group_counts_live(monkeypatch, tmp_path):
    pytest.importorskip("duckdb")
    monkeypatch.setenv("L2M_CACHE", str(tmp_path))
    tokens, offsets = zipf_documents(LENGTHS * 3, 200, seed=7)
    args = dict(distances=(1, 2, 4, 8, 16), n_boot=3, vocab_size=200, n_shuffle=2)
    in_memory = twopoint.count_curves(tokens, offsets, **args)
    monkeypatch.setattr(paircount, "BYTES_PER_GROUP_ENTRY", 10**6)  # every distance's group counts spill to DuckDB
    made = []
    spilled_class = paircount.SpilledGroupCounts
    monkeypatch.setattr(paircount, "SpilledGroupCounts", lambda *a: made.append(1) or spilled_class(*a))
    spilled = twopoint.count_curves(tokens, offsets, **args)
    assert len(made) == 5 * 5  # raw, equal pairs, within-document and two corpus-wide shuffles, at each of the 5 distances
    for key, curve in in_memory.items():
        if key == "raw_stderr":  # a sum over every distinct pair, in DuckDB's order
            assert np.allclose(curve, spilled[key], rtol=1e-9)
        else:
            assert np.array_equal(curve, spilled[key], equal_nan=True), key


def test_spill_folders_of_killed_processes_are_removed(tmp_path):
    import subprocess

    dead = subprocess.Popen(["true"])
    dead.wait()  # a process id that no longer runs
    stale = tmp_path / f"{pairtables.spill_prefix(dead.pid)}abc"
    alive = tmp_path / f"{pairtables.spill_prefix()}def"  # this process's own
    other_host = tmp_path / f"l2m-pairs-another-host-{dead.pid}-ghi"  # maybe alive elsewhere: kept
    for folder in (stale, alive, other_host):
        (folder / "pairs.duckdb").parent.mkdir()
        (folder / "pairs.duckdb").write_bytes(b"x")
    assert pairtables.remove_stale_spills(tmp_path) == [stale]
    assert not stale.exists() and alive.exists() and other_host.exists()
