"""Shared test set-up: every test gets a fresh results cache; GPU-only tests skip cleanly where CUDA is absent.

``L2M_CACHE`` points, for the whole session, at a temporary folder, so no test reads a result (a run, a
score, a scan) that an earlier build or session left in the real cache, and none writes one there. The
expensive *inputs* are the exception: the registry packages, the converted models, the corpora, their
token arrays and the tokenizers are links into the real cache (``$L2M_CACHE`` as it was, else
``~/.cache/l2m``), so they are built once and shared, never downloaded or rebuilt per session. Each is
keyed by what it is built from, so sharing it cannot hand a test a stale one. A test that sets
``L2M_CACHE`` itself (monkeypatch) still does, for that test.
"""
import os
from pathlib import Path

import pytest

SHARED_INPUTS = ("packages", "models", "corpora", "tokens", "tokenizers")  # expensive, keyed by their sources


def _real_cache() -> Path:
    return Path(os.environ.get("L2M_CACHE") or Path.home() / ".cache" / "l2m")


@pytest.fixture(scope="session", autouse=True)
def results_cache(tmp_path_factory):
    """The session's own ``L2M_CACHE``, with the shared inputs linked in from the real cache."""
    real, fresh = _real_cache(), tmp_path_factory.mktemp("l2m-cache")
    for name in SHARED_INPUTS:
        (real / name).mkdir(parents=True, exist_ok=True)
        (fresh / name).symlink_to(real / name, target_is_directory=True)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("L2M_CACHE", str(fresh))  # papermill kernels and subprocesses inherit it
        yield fresh


def _cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


def pytest_collection_modifyitems(config, items):
    if _cuda_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
