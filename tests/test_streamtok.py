"""The streaming tokenizer against the in-memory one, on a small local `datasets` dataset (streamed and memory-mapped)."""
import numpy as np
import pytest

from l2m.streamtok import tokenize_rows
from l2m.tokenizer import encode, load_tokenizer


@pytest.fixture(scope="module")
def gpt2():
    return load_tokenizer("gpt2")


def texts() -> list[str]:
    rng = np.random.default_rng(0)
    words = ["the", "whale", "Ishmael", "sea,", "ship.", "\n\nCHAPTER", "and", "—", "naïve", "1851", "said:"]
    return [" ".join(rng.choice(words, n)) for n in (1, 40, 3000, 250, 9000, 7)]


def test_streamed_and_memory_mapped_datasets_tokenize_like_memory(gpt2, tmp_path):
    datasets = pytest.importorskip("datasets")
    docs = texts()
    expected = [encode(gpt2, [text])[0] for text in docs]  # each text whole, in memory
    saved = tmp_path / "local-dataset"
    datasets.Dataset.from_dict({"text": docs}).save_to_disk(saved)
    mapped = datasets.load_from_disk(str(saved))  # Arrow on disk, memory-mapped
    for name, rows in (("mapped", mapped), ("streamed", mapped.to_iterable_dataset(num_shards=2))):
        # small batches and pieces: many flushes, long texts cut into several pieces
        tokens, offsets = tokenize_rows(rows, gpt2, tmp_path / f"{name}.bin", batch_chars=5000, chunk_chars=2000)
        assert offsets.tolist() == np.cumsum([0] + [len(ids) for ids in expected]).tolist()
        assert tokens.dtype == np.uint16 and tokens.tolist() == [i for ids in expected for i in ids]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["local-dataset", "mapped.bin", "streamed.bin"]  # no temporaries
