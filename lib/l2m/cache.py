"""On-disk results keyed by everything that determines them, written atomically.

A chapter asks ``load_or_compute(name, key, compute)``: when an entry for exactly this key
exists it is read back; otherwise ``compute()`` runs and its result (a dict of arrays) is
written to a temporary file and renamed into place, so an interrupted run never leaves a
half-written entry that a later run would trust. The key holds the parameters and a digest
of the source of the modules that compute the result, so changed code never reuses stale
numbers.

The folder is ``$L2M_CACHE`` when set, else ``~/.cache/l2m``.

A damaged entry (a disk that filled, a copy cut short, a file edited by hand) is a missing one: every reader
goes through :func:`read_or_set_aside`, which says in one line which entry could not be read and why, moves it
aside (``<name>.damaged``) and lets the caller compute it again. A half-written entry cannot pass for a whole
one: ``.npz`` entries are zip files whose members carry CRC-32s and a central directory at the end, ``.npy``
headers state the array's shape, token arrays are checked against their stated lengths, and folders are
renamed into place only when complete. A write that runs out of disk space stops with one line naming the
folder and the space needed (:class:`CacheFull`), leaving the previous entry, if any, in place.
"""
from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import json
import os
import shutil
import tempfile
import zipfile
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Iterable, Iterator

import numpy as np

from .params import BookError

# What reading a damaged file raises: a short or garbled file (OSError, EOFError, ValueError: numpy's and json's
# parse errors, UnicodeDecodeError), a zip without its directory or with a bad CRC, a JSON without a field.
READ_ERRORS = (OSError, EOFError, ValueError, KeyError, TypeError, IndexError, zipfile.BadZipFile)


class CacheFull(BookError, OSError):
    """A cache write ran out of disk space; shown as one line."""


def set_aside(path: Path, why: str) -> Path:
    """Move a damaged entry (file or folder) to ``<name>.damaged`` (replacing an older one), saying so in one line."""
    target = path.with_name(path.name + ".damaged")
    if target.is_dir():
        shutil.rmtree(target)
    elif target.exists():
        target.unlink()
    os.replace(path, target)
    print(f"[cache] {path} could not be read ({why}); moved aside to {target.name}, computing it again", flush=True)
    return target


def read_or_set_aside(path: Path, reader: Callable[[Path], Any]) -> Any:
    """``reader(path)``, or None when the entry is missing or cannot be read (then it is moved aside)."""
    if not path.exists():
        return None
    try:
        return reader(path)
    except READ_ERRORS as error:
        set_aside(path, f"{type(error).__name__}: {str(error).splitlines()[0][:100] if str(error) else ''}")
        return None


def _no_space(folder: Path, needed: int | None) -> CacheFull:
    free = shutil.disk_usage(folder).free if folder.exists() else 0
    need = f"{needed / 1e6:.1f} MB needed, " if needed is not None else ""
    return CacheFull(f"no space left in {folder} ({need}{free / 1e6:.1f} MB free): free some space or set L2M_CACHE "
                     f"to a larger disk; nothing was written")


def cache_dir() -> Path:
    return Path(os.environ.get("L2M_CACHE") or Path.home() / ".cache" / "l2m")


def source_digest(modules: Iterable[ModuleType]) -> str:
    """sha256 of the source files of ``modules``: part of a key, so edited code recomputes."""
    digest = hashlib.sha256()
    for module in modules:
        digest.update(Path(module.__file__).read_bytes())
    return digest.hexdigest()


def key_digest(key: dict[str, Any]) -> str:
    """sha256 of a key's canonical JSON (sorted keys; numpy scalars and tuples as plain values)."""

    def plain(value: Any) -> Any:
        if isinstance(value, np.generic):
            return value.item()
        if isinstance(value, (tuple, set)):
            return list(value)
        raise TypeError(f"cache key values must be JSON-like, not {type(value).__name__}")

    text = json.dumps(key, sort_keys=True, default=plain)
    return hashlib.sha256(text.encode()).hexdigest()


def scratch_dir() -> Path:
    """``<cache>/scratch/``: temporary files too large for memory (memory maps, DuckDB spills), created on demand."""
    folder = cache_dir() / "scratch"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def scratch_array(n: int, dtype: np.dtype | type, in_memory_bytes: int) -> np.ndarray:
    """An uninitialised array of ``n`` items: in memory up to ``in_memory_bytes``, else a memory map on disk.

    The map's file, under ``<cache>/scratch/``, is unlinked as soon as it is mapped, so its disk space
    returns when the array is dropped, even after an interruption (a corpus-sized shuffle at the
    paper's scale, chapter 02, is several GB: it must not live in memory nor outlive its run).
    """
    dtype = np.dtype(dtype)
    if n * dtype.itemsize <= in_memory_bytes or n == 0:
        return np.empty(n, dtype)
    folder, size = scratch_dir(), n * dtype.itemsize
    free = shutil.disk_usage(folder).free
    if free < size:  # a memory map past the disk's end dies with SIGBUS, long after this point: say it now
        raise OSError(f"{size / 2**30:.1f} GB of scratch space needed in {folder}, {free / 2**30:.1f} GB free "
                      f"(set L2M_CACHE to a larger disk)")
    fd, name = tempfile.mkstemp(dir=folder, suffix=".bin")
    try:
        os.ftruncate(fd, size)
        return np.asarray(np.memmap(name, dtype=dtype, mode="r+", shape=(n,)))  # the ndarray keeps the map alive
    finally:
        os.close(fd)
        os.unlink(name)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as error:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(error, OSError) and error.errno == errno.ENOSPC:
            raise _no_space(path.parent, len(data)) from None
        raise


@contextlib.contextmanager
def atomic_directory(target: Path, replace: bool = False) -> Iterator[Path]:
    """A temporary folder beside ``target`` that becomes ``target`` in one rename when the block ends.

    If the block raises, the temporary folder is removed and ``target`` is untouched. If ``target``
    exists by then, ``replace=False`` keeps it (another process built the same thing) and
    ``replace=True`` swaps it out (a stale or partial folder).
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}."))
    try:
        yield tmp
        if target.exists() and not replace:
            shutil.rmtree(tmp)
            return
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    except BaseException as error:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(error, OSError) and error.errno == errno.ENOSPC:
            raise _no_space(target.parent, None) from None
        raise


def atomic_save_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """np.savez of ``arrays`` written atomically."""
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    atomic_write_bytes(path, buffer.getvalue())


def load_or_compute(
    name: str,
    key: dict[str, Any],
    compute: Callable[[], dict[str, np.ndarray]],
    modules: Iterable[ModuleType] = (),
    folder: Path | None = None,
) -> dict[str, np.ndarray]:
    """Read the result for ``key`` from the cache, or compute, store and return it.

    ``modules`` are the modules whose code determines the result; their source digest joins
    the key. The entry is ``<folder>/<name>/<digest>.npz`` with the key beside it as JSON.
    """
    full_key = {"name": name, "key": key, "code": source_digest(modules)}
    digest = key_digest(full_key)
    entry = (folder or cache_dir()) / name / f"{digest}.npz"

    def read(path: Path) -> dict[str, np.ndarray]:
        with np.load(path, allow_pickle=False) as stored:
            return {k: stored[k] for k in stored.files}

    stored = read_or_set_aside(entry, read)
    if stored is not None:
        return stored
    result = {k: np.asarray(v) for k, v in compute().items()}
    atomic_save_npz(entry, result)
    atomic_write_bytes(entry.with_suffix(".json"), json.dumps(full_key, indent=1, default=str).encode())
    return result
