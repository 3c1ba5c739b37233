"""Packaged tokenizers and cached token arrays: known ids, exact round trips, offsets, the cache.

Uses the corpora of the shared cache (built by test_corpus on a first run, else here).
"""
import os
import time

import numpy as np
import pytest

from l2m import corpus, tokenizer
from l2m.corpus import load_corpus
from l2m.tokenizer import TokenizerUnavailable, encode, load_tokenizer, split_text, tokenize


@pytest.fixture(scope="session")
def smollm2():
    return load_tokenizer("smollm2-135m")


@pytest.fixture(scope="session")
def gpt2():
    return load_tokenizer("gpt2")


@pytest.fixture(scope="session")
def books():
    return load_corpus("books")


@pytest.fixture(scope="session")
def books_smollm2(books):
    return tokenize(books)  # the default tokenizer


@pytest.fixture(scope="session")
def wiki_gpt2():
    return tokenize(load_corpus("wiki"), "gpt2")


def test_gpt2_gives_gpt2_ids(gpt2):
    assert len(gpt2) == 50257 and gpt2.eos_token_id == 50256
    assert encode(gpt2, ["Hello world", " Hello world"]) == [[15496, 995], [18435, 995]]


def test_smollm2_vocabulary_and_bos(smollm2):
    assert len(smollm2) == 49152
    assert smollm2.bos_token == "<|endoftext|>" and smollm2.bos_token_id == 0  # SmolLM2's pretraining separator, not the instruct GGUF's
    ids = encode(smollm2, ["It is a truth <|endoftext|>"])[0]
    assert 0 not in ids and smollm2.decode(ids) == "It is a truth <|endoftext|>"  # text, not a special token


def test_loading_leaves_the_environment_as_it_was(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    load_tokenizer("gpt2")
    assert "HF_HUB_OFFLINE" not in os.environ


def test_unknown_tokenizer_fails_at_once_naming_the_packaged_ones():
    start = time.perf_counter()
    with pytest.raises(TokenizerUnavailable, match=r"'smollm2-135m', 'gpt2'"):
        load_tokenizer("no-such-org/no-such-tokenizer")
    assert time.perf_counter() - start < 10


def test_local_folder_loads(smollm2, tmp_path):
    smollm2.save_pretrained(tmp_path)
    local = load_tokenizer(str(tmp_path))
    assert tokenizer.tokenizer_fingerprint(local) == tokenizer.tokenizer_fingerprint(smollm2)


@pytest.mark.parametrize("name", ["smollm2", "gpt2"])
def test_chunks_tokenize_like_the_whole_text(name, smollm2, gpt2, books):
    tok = {"smollm2": smollm2, "gpt2": gpt2}[name]
    for doc_id in ("melville/moby-dick", "shakespeare/hamlet", "kjv/psalms"):
        text = books.text(doc_id)[:200_000]
        pieces = split_text(text, 1000)
        assert len(pieces) > 100 and "".join(pieces) == text
        assert sum(encode(tok, pieces), []) == encode(tok, [text])[0], doc_id


def test_split_text_keeps_a_text_without_cut_points_whole():
    assert split_text("x" * 50, 10) == ["x" * 50]
    assert split_text("ab cd  ef\ngh", 1) == ["ab", " cd  ef", "\ngh"]


def test_books_tokens_round_trip(books, books_smollm2, smollm2):
    tokens = books_smollm2
    assert tokens.tokenizer_name == "smollm2-135m" and tokens.vocab_size == 49152
    assert tokens.tokens.dtype == np.uint16 and tokens.offsets.dtype == np.int64
    assert tokens.n_docs == len(books) and tokens.doc_ids == tuple(d.id for d in books.documents)
    assert tokens.offsets[0] == 0 and tokens.offsets[-1] == len(tokens.tokens) == tokens.n_tokens
    assert np.all(np.diff(tokens.offsets) > 0) and int(tokens.tokens.max()) < tokens.vocab_size
    assert 8_000_000 < tokens.n_tokens < 12_000_000  # the books corpus of data/sources.yml: about 8-12M BPE tokens
    short = sorted(books.documents, key=lambda d: d.n_chars)[:4] + [books.document("austen/pride-and-prejudice")]
    for doc in short:
        ids = tokens.doc(doc.id).tolist()
        assert smollm2.decode(ids, clean_up_tokenization_spaces=False) == books.text(doc.id), doc.id
    assert tokens.doc(0).tolist() == encode(smollm2, [books.text(books.documents[0].id)])[0]


def test_wiki_gpt2_tokens_round_trip(wiki_gpt2, gpt2):
    wiki = load_corpus("wiki")
    assert wiki_gpt2.vocab_size == 50257 and wiki_gpt2.n_docs == 106 and wiki_gpt2.corpus_checksum == wiki.checksum
    for doc in sorted(wiki.documents, key=lambda d: d.n_chars)[:5]:
        ids = wiki_gpt2.doc(doc.id).tolist()
        assert gpt2.decode(ids, clean_up_tokenization_spaces=False) == wiki.text(doc.id), doc.id


def test_second_tokenize_reads_the_cache(books, books_smollm2, monkeypatch):
    def no_encoding(*args, **kwargs):
        raise AssertionError("the tokenizer ran again")

    monkeypatch.setattr(tokenizer, "encode", no_encoding)
    again = tokenize(books)
    assert again.folder == books_smollm2.folder and np.array_equal(again.offsets, books_smollm2.offsets)
    assert np.array_equal(again.doc(7), books_smollm2.doc(7))


def test_interrupted_tokenize_leaves_nothing(tmp_path, monkeypatch):
    drafts = iter([({"id": "t/a", "title": "A", "author": "X", "year": 1900, "source": "test", "licence": "PD"},
                    "One short text."),
                   ({"id": "t/b", "title": "B", "author": "X", "year": 1901, "source": "test", "licence": "PD"},
                    "Another one.")])
    tiny = corpus._write_corpus("tiny", tmp_path, drafts, {"key": "0" * 64})
    monkeypatch.setattr(tokenizer, "encode", lambda tok, texts: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        tokenize(tiny, "gpt2", folder=tmp_path)
    assert not (tmp_path / "tokens").exists() or not any((tmp_path / "tokens").iterdir())
    monkeypatch.undo()
    tokens = tokenize(tiny, "gpt2", folder=tmp_path)
    assert tokens.offsets.tolist() == [0, 4, 7] and tokens.doc("t/b").tolist() == [6610, 530, 13]


def test_a_streamed_hub_corpus_tokenizes_like_each_text_in_memory(gpt2, tmp_path, monkeypatch):
    # pg19 streamed from a stand-in `datasets` (the hub is out of reach here), rows to disk one at a time,
    # then tokenized in small batches and pieces: the ids of every text encoded whole, in memory
    import sys
    import types

    rng = np.random.default_rng(0)
    words = ["the", "whale", "Ishmael", "sea,", "ship.", "\n\nCHAPTER", "and", "—", "naïve", "1851", "said:"]
    texts = [" ".join(rng.choice(words, n)) for n in (1, 40, 3000, 250, 9000, 7)]
    rows = [{"short_book_title": f"Book {i}", "publication_date": None, "url": "", "text": t} for i, t in enumerate(texts)]
    monkeypatch.setitem(sys.modules, "datasets", types.SimpleNamespace(load_dataset=lambda *a, **kw: iter(rows)))
    monkeypatch.setattr(corpus, "_hub_online", lambda: None)
    monkeypatch.setattr(tokenizer, "load_tokenizer", lambda name, folder=None: gpt2)
    pg19 = load_corpus("pg19", folder=tmp_path, hub_docs=0)
    streamed = tokenize(pg19, "gpt2", folder=tmp_path, chunk_chars=2000, batch_chars=5000)  # many flushes
    expected = [encode(gpt2, [text])[0] for _, text in pg19.texts()]
    assert streamed.offsets.tolist() == np.cumsum([0] + [len(ids) for ids in expected]).tolist()
    assert streamed.tokens.tolist() == [i for ids in expected for i in ids] and streamed.n_docs == len(texts)
