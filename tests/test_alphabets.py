"""Chapter 02's alphabets in bounded memory against the plain in-memory one-liners they replace.

Each reference below is the whole-array version (a bincount, an np.unique, a concatenate of every piece):
the blocked versions must give exactly its ids. A budget of a few dozen bytes forces one- or two-item
blocks and puts every output in a memory map of an unlinked file (``cache.scratch_array``).
"""
import numpy as np
import pytest

from l2m import alphabets, corpus

TINY = 64  # bytes: blocks of one to four items, and every output past half of it mapped on disk


@pytest.fixture
def scratch(tmp_path, monkeypatch):
    monkeypatch.setenv("L2M_CACHE", str(tmp_path))
    return tmp_path / "scratch"


def mapped(array: np.ndarray) -> bool:
    return isinstance(array.base, np.memmap)


def reference_top_k(tokens: np.ndarray, k: int) -> np.ndarray:
    counts = np.bincount(tokens)
    order = np.argsort(-counts, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return np.minimum(rank[tokens], k)


def reference_characters(texts: list[str]) -> tuple[np.ndarray, np.ndarray, int]:
    points = [np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32) for text in texts]
    offsets = np.concatenate(([0], np.cumsum([len(p) for p in points]))).astype(np.int64)
    alphabet, ids = np.unique(np.concatenate(points), return_inverse=True)
    return ids, offsets, len(alphabet)


def reference_truncate(tokens: np.ndarray, offsets: np.ndarray, cap: int) -> tuple[np.ndarray, np.ndarray]:
    kept = np.minimum(np.diff(offsets), cap)
    pieces = [tokens[s : s + k] for s, k in zip(offsets[:-1], kept)]
    return np.concatenate(pieces), np.concatenate(([0], np.cumsum(kept))).astype(np.int64)


def test_top_k_alphabet():
    tokens = np.array([5, 5, 5, 2, 2, 9, 7], dtype=np.uint32)
    ids = alphabets.top_k_alphabet(tokens, 2)
    assert list(ids) == [0, 0, 0, 1, 1, 2, 2] and ids.dtype == np.uint16  # ties (9, 7) by id: 7 ranks first


@pytest.mark.parametrize("dtype", [np.uint16, np.uint32])
@pytest.mark.parametrize("k", [1, 7, 63, 5000, 70_000])
def test_top_k_alphabet_in_blocks_equals_the_whole_array_version(dtype, k, scratch, tmp_path, monkeypatch):
    rng = np.random.default_rng(k)
    tokens = np.minimum(rng.zipf(1.3, 3000), 60_000).astype(dtype)  # many ties among the rare tokens
    on_disk = np.memmap(tmp_path / "tokens.bin", dtype=dtype, mode="w+", shape=tokens.shape)
    on_disk[:] = tokens  # a memory-mapped token array, as tokenizer.TokenArray holds them
    want, bincount, calls = reference_top_k(tokens, k), np.bincount, []
    monkeypatch.setattr(np, "bincount", lambda block: calls.append(len(block)) or bincount(block))
    ids = alphabets.top_k_alphabet(on_disk, k, memory_budget=TINY)
    np.testing.assert_array_equal(ids, want)
    assert ids.dtype == (np.uint16 if k + 1 <= 65536 else np.uint32)
    assert mapped(ids) and list(scratch.iterdir()) == []  # on disk, and its file already unlinked
    assert len(calls) > 100 and max(calls) <= 2  # counted block by block


def test_top_k_alphabet_of_nothing():
    assert len(alphabets.top_k_alphabet(np.zeros(0, np.uint16), 3)) == 0


TEXTS = ["naïve café — déjà vu", "", "Ελληνικά και 日本語", " ", "a", "emoji 😀 beyond the BMP 𝄞", "\n\n", "plain ASCII"]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_character_alphabet_in_blocks_equals_np_unique(seed, scratch):
    rng = np.random.default_rng(seed)
    pool = "".join(TEXTS)
    texts = [*TEXTS, *("".join(rng.choice(list(pool), size=n)) for n in rng.integers(0, 200, 20))]
    rng.shuffle(texts)
    ids, offsets, size = alphabets.character_alphabet(texts, memory_budget=TINY)
    want_ids, want_offsets, want_size = reference_characters(texts)
    np.testing.assert_array_equal(ids, want_ids)
    np.testing.assert_array_equal(offsets, want_offsets)
    assert size == want_size and offsets.dtype == np.int64 and ids.dtype == np.uint16 and mapped(ids)
    assert [texts[i] for i in range(len(texts))] == texts  # a list read twice is left as it was


def test_character_alphabet_reads_a_corpus_view(tmp_path, scratch):
    drafts = [({"id": f"t/{i}", "title": str(i), "author": "", "year": None, "source": "test", "licence": "none"}, text)
              for i, text in enumerate(t for t in TEXTS if t.strip())]  # a corpus keeps no empty document
    built = corpus._write_corpus("tiny", tmp_path, iter(drafts), {"key": "0" * 16})
    texts = [text for _, text in drafts]
    got, want = alphabets.character_alphabet(built.text_sequence(), TINY), reference_characters(texts)
    for a, b in zip(got, want):
        np.testing.assert_array_equal(a, b)


def test_character_alphabet_beyond_65536_characters_is_uint32(scratch):
    texts = ["".join(map(chr, range(0x20000, 0x20000 + 40_000))), "".join(map(chr, range(0x10000, 0x10000 + 30_000)))]
    ids, offsets, size = alphabets.character_alphabet(texts, memory_budget=1 << 16)
    assert size == 70_000 and ids.dtype == np.uint32
    np.testing.assert_array_equal(ids, reference_characters(texts)[0])


@pytest.mark.parametrize("max_tokens", [0, 1, 17, 250, 999, 1000, 5000])
def test_truncate_documents_equals_the_concatenated_prefixes(max_tokens, scratch):
    rng = np.random.default_rng(max_tokens)
    lengths = rng.integers(0, 120, 20)
    lengths[[3, 11]] = 0  # empty documents stay empty
    offsets = np.concatenate(([0], np.cumsum(lengths))).astype(np.int64)
    tokens = rng.integers(0, 500, offsets[-1]).astype(np.uint16)
    total = int(offsets[-1])
    out, out_offsets = alphabets.truncate_documents(tokens, offsets, max_tokens, memory_budget=TINY)
    if max_tokens <= 0 or total <= max_tokens:
        assert out is tokens and np.array_equal(out_offsets, offsets)
        return
    cap = max(c for c in range(int(lengths.max()) + 1) if np.minimum(lengths, c).sum() <= max_tokens)
    want, want_offsets = reference_truncate(tokens, offsets, cap)
    np.testing.assert_array_equal(out, want)
    np.testing.assert_array_equal(out_offsets, want_offsets)
    assert out.dtype == tokens.dtype and out_offsets[-1] <= max_tokens and (mapped(out) or len(out) * 2 <= TINY // 2)
