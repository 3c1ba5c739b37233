"""Results cached by key, written atomically, recomputed when key or code changes."""
import json

import numpy as np
import pytest

from l2m import cache, fit


def test_compute_once_then_read(tmp_path):
    calls = []

    def compute():
        calls.append(1)
        return {"x": np.arange(3.0), "n": 7}

    first = cache.load_or_compute("demo", {"a": 1, "b": (2, 3)}, compute, [fit], folder=tmp_path)
    second = cache.load_or_compute("demo", {"b": [2, 3], "a": 1}, compute, [fit], folder=tmp_path)
    assert len(calls) == 1
    assert np.array_equal(second["x"], [0, 1, 2]) and int(second["n"]) == 7
    assert np.array_equal(first["x"], second["x"])
    cache.load_or_compute("demo", {"a": 2, "b": (2, 3)}, compute, [fit], folder=tmp_path)
    assert len(calls) == 2
    entries = sorted((tmp_path / "demo").glob("*.json"))
    assert len(entries) == 2 and json.loads(entries[0].read_text())["name"] == "demo"


def test_source_digest_joins_the_key(tmp_path):
    calls = []
    compute = lambda: calls.append(1) or {"x": np.zeros(1)}
    cache.load_or_compute("demo", {}, compute, [fit], folder=tmp_path)
    cache.load_or_compute("demo", {}, compute, [cache], folder=tmp_path)
    assert len(calls) == 2


def test_failed_compute_leaves_nothing(tmp_path):
    def compute():
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError):
        cache.load_or_compute("demo", {"a": 1}, compute, folder=tmp_path)
    assert not (tmp_path / "demo").exists() or not any((tmp_path / "demo").iterdir())


def test_atomic_write_replaces_whole_file(tmp_path):
    target = tmp_path / "sub" / "f.bin"
    cache.atomic_write_bytes(target, b"old")
    cache.atomic_write_bytes(target, b"new")
    assert target.read_bytes() == b"new" and [p.name for p in target.parent.iterdir()] == ["f.bin"]


def test_scratch_array_in_memory_or_mapped_and_leaves_no_file(tmp_path, monkeypatch):
    monkeypatch.setenv("L2M_CACHE", str(tmp_path))
    small = cache.scratch_array(100, np.uint16, in_memory_bytes=200)
    assert not isinstance(small.base, np.memmap) and not (tmp_path / "scratch").exists()
    big = cache.scratch_array(1000, np.uint32, in_memory_bytes=200)  # 4000 bytes > 200: on disk
    assert isinstance(big.base, np.memmap) and big.shape == (1000,) and big.dtype == np.uint32
    big[:] = np.arange(1000)
    assert int(big.sum()) == 999 * 1000 // 2
    assert list((tmp_path / "scratch").iterdir()) == []  # unlinked at once: the space goes with the array
