"""A small byte-level BPE trained on a corpus's training documents, for the text runs of chapter 05.

The paper trains GPT2 and Mamba on PG19 with GPT-NeoX's 50k-token tokenizer (Sec. 5, Appx. F; NeurIPS
Fig. 4). A model of a few hundred thousand parameters cannot afford that: a 49k-token embedding of width 64 alone
holds 3.1M numbers, and the tied output layer costs 2·V·d_model FLOPs per token, far more than the blocks between
them. A byte-level BPE of a few thousand tokens, trained on the corpus itself with Hugging Face ``tokenizers``
(GPT-2's pre-tokenizer, the same algorithm as GPT-NeoX's tokenizer), buys layers for the same budget. What it
costs in comparability: a token is a shorter stretch of text (more tokens per character), so an NLL per token is
not the paper's, and L tokens span less text than L of GPT-NeoX's.

The tokenizer is trained on the documents :class:`l2m.tasks.TextTask` trains on (its held-out documents are
left out, read off :func:`l2m.textruns.split_documents`), saved with ``save_pretrained`` into
``<cache>/tokenizers/<corpus>-bpe<V>-<key>/`` keyed by the corpus checksum, the training documents, the
vocabulary size, the ``tokenizers`` version and :data:`TRAINER` (not this module's source: the id a grid names
must survive an edited comment). :func:`register` also puts it in the local Hugging Face cache
under ``l2m-book/<folder name>``, so that a grid or a run names it by an id that does not depend on where the
cache lives (``TrainConfig(tokenizer="l2m-book/books-bpe4096-<key>")``, loaded offline as
:func:`l2m.tokenizer.load_tokenizer` loads any local id; the key in the id keeps a run from ever meeting
other merges under the same name).

Command line: ``python -m l2m.bpe [CORPUS] [VOCAB...]`` trains and registers (default ``books 4096``).
"""
from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from . import cache
from .params import BookError

if TYPE_CHECKING:
    from . import corpus

BOS = "<|endoftext|>"  # the one special token: BOS of every window (as SmolLM2's separator, id 0)
NAMESPACE = "l2m-book"  # the Hugging Face id's owner: ``l2m-book/<folder name>``
TRAINER = 1  # version of the training below: raise it when a change alters the merges it produces
HUB_ID = re.compile(rf"{NAMESPACE}/(?P<corpus>.+)-bpe(?P<vocab>[0-9]+)-(?P<key>[0-9a-f]{{16}})")


class OtherMerges(BookError, ValueError):
    """A run names a corpus BPE whose key this machine's corpus and ``tokenizers`` do not reproduce."""


def hub_id(folder: Path) -> str:
    """The local Hugging Face id of a trained BPE folder: ``l2m-book/<folder name>``, its key included, so a
    run that names it names exactly these merges (a changed corpus or trainer gives a new id, never a stale one)."""
    return f"{NAMESPACE}/{folder.name}"


def _train_texts(built: "corpus.Corpus", train_ids: tuple[str, ...]) -> list[str]:
    """The texts of the documents TextTask trains on (its held-out documents left out)."""
    keep = set(train_ids)
    return [text for doc, text in built.texts() if doc.id in keep]


def train_bpe(corpus_name: str = "books", vocab_size: int = 4096, folder: Path | None = None) -> Path:
    """The folder of a byte-level BPE of ``vocab_size`` tokens trained on the corpus's training documents.

    Trained once (a minute on two cores for ``books``) and read from the cache afterwards.
    """
    import tokenizers
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    from . import corpus, textruns

    built = corpus.load_corpus(corpus_name)
    train_ids, _ = textruns.split_documents(corpus_name)
    key = cache.key_digest({"corpus": built.checksum, "train": train_ids, "vocab_size": vocab_size,
                            "tokenizers": tokenizers.__version__, "trainer": TRAINER})
    target = (folder or cache.cache_dir()) / "tokenizers" / f"{corpus_name}-bpe{vocab_size}-{key[:16]}"
    if (target / "tokenizer_config.json").is_file():
        return target
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)  # GPT-2's regex, as the packaged BPEs
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=[BOS], show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())  # every byte: no unknowns
    bpe.train_from_iterator(_train_texts(built, train_ids), trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=bpe, bos_token=BOS, eos_token=BOS)
    with cache.atomic_directory(target) as tmp:
        fast.save_pretrained(tmp)
    return target


def _hub_folder(repo_id: str) -> Path:
    """Where huggingface_hub's cache keeps ``repo_id``: ``<HF_HUB_CACHE>/models--<owner>--<name>``."""
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE) / ("models--" + repo_id.replace("/", "--"))


def register(folder: Path) -> str:
    """Put a tokenizer folder in the local Hugging Face cache under :func:`hub_id`; returns the id.

    The layout is huggingface_hub's cache: ``snapshots/<revision>/`` with the files, ``refs/main`` naming the
    revision, and ``.no_exist/<revision>/config.json`` recording that the repository has no model config (a
    tokenizer alone), which transformers otherwise looks for and, offline, fails on.
    """
    repo_id = hub_id(folder)
    repo = _hub_folder(repo_id)
    revision = cache.key_digest({"folder": folder.name})[:40]  # a commit hash's shape
    snapshot = repo / "snapshots" / revision
    if not (snapshot / "tokenizer_config.json").is_file():
        snapshot.parent.mkdir(parents=True, exist_ok=True)
        with cache.atomic_directory(snapshot, replace=True) as tmp:
            for path in folder.iterdir():
                shutil.copy(path, tmp / path.name)
    cache.atomic_write_bytes(repo / ".no_exist" / revision / "config.json", b"")
    cache.atomic_write_bytes(repo / "refs" / "main", revision.encode())
    return repo_id


def is_registered(repo_id: str) -> bool:
    """Whether the local Hugging Face cache already holds ``repo_id`` (as :func:`register` leaves it)."""
    return (_hub_folder(repo_id) / "refs" / "main").is_file()


def provide(name: str) -> None:
    """Make a corpus BPE that a run names by its id loadable here: trained and registered when this machine lacks it.

    A grid names ``l2m-book/books-bpe1024-<key>``; on a fresh machine the id is not yet in the Hugging Face cache,
    so its runs would stop before their first step (:func:`l2m.sweep.execute` calls this first; a single run of
    chapter 04 needs ``python -m l2m.bpe`` once). Any other name (a packaged tokenizer, a folder, a hub id) is left
    to :func:`l2m.tokenizer.load_tokenizer`. When the merges trained here get another key (another corpus checksum,
    ``tokenizers`` version or :data:`TRAINER`), the run stops with one line naming both ids: other merges under the
    grid's id would silently change every run keyed by it.
    """
    match = HUB_ID.fullmatch(name)
    if match is None or is_registered(name):
        return
    made = corpus_tokenizer(match["corpus"], int(match["vocab"]))
    if made != name:
        raise OtherMerges(f"tokenizer = {name!r}: this machine's {match['corpus']!r} corpus and tokenizers "
                          f"train {made!r} instead (another corpus or tokenizers version); name that id")


def corpus_tokenizer(corpus_name: str = "books", vocab_size: int = 4096) -> str:
    """Train (or find) the corpus's BPE and register it; returns the id a :class:`TrainConfig` names it by."""
    return register(train_bpe(corpus_name, vocab_size))


def main(argv: list[str] | None = None) -> None:
    """``python -m l2m.bpe [CORPUS] [VOCAB...]``: train and register the corpus's BPEs (default books 4096)."""
    args = list(sys.argv[1:] if argv is None else argv)
    name = args.pop(0) if args and not args[0].isdigit() else "books"
    for vocab_size in [int(a) for a in args] or [4096]:
        print(f"{corpus_tokenizer(name, vocab_size)}: {train_bpe(name, vocab_size)}")


if __name__ == "__main__":
    main()
