"""A damaged cache entry is recomputed (or named in one line), never read as valid, never a traceback.

Every kind of entry is damaged two ways, cut short and replaced by random bytes, and the result read back
must equal the undamaged one; a write that runs out of disk space leaves no partial entry.
"""
import errno
import os

import numpy as np
import pytest

from l2m import cache, config, corpus, lm, runs, train
from l2m.params import BookError, validate
from l2m.tokenizer import tokenize


def truncate(path, size=100):
    path.write_bytes(path.read_bytes()[:size])


def garble(path):
    path.write_bytes(np.random.default_rng(0).bytes(max(200, path.stat().st_size)))


DAMAGES = {"truncated": truncate, "random bytes": garble}


@pytest.mark.parametrize("damage", DAMAGES)
def test_a_damaged_result_entry_is_computed_again(tmp_path, capsys, damage):
    calls = []

    def compute():
        calls.append(1)
        return {"x": np.arange(1000.0), "y": np.eye(20)}

    first = cache.load_or_compute("scan", {"n": 3}, compute, folder=tmp_path)
    (entry,) = (tmp_path / "scan").glob("*.npz")
    DAMAGES[damage](entry)
    again = cache.load_or_compute("scan", {"n": 3}, compute, folder=tmp_path)
    assert len(calls) == 2 and all(np.array_equal(first[k], again[k]) for k in first)
    assert entry.with_name(entry.name + ".damaged").exists()
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and f"[cache] {entry} could not be read" in out  # one line, naming the entry


class CountingScorer:
    """log q(w_t) = −(1 + w_t mod 7)/3, counting the tokens it scores."""

    name, fingerprint, batch_tokens = "counting", "f" * 64, 8

    def __init__(self):
        self.tokens = 0

    def score(self, sequences, progress=False):
        self.tokens += sum(len(s) for s in sequences)
        return [-(1 + np.asarray(s) % 7) / 3.0 for s in sequences]


@pytest.mark.parametrize("damage", [*DAMAGES, "another pass's scores"])
def test_a_damaged_scored_pass_is_scored_again(tmp_path, damage):
    sequences = [np.arange(40) + 3, np.arange(9)]
    first = lm.score_cached(CountingScorer(), sequences, folder=tmp_path, progress=False)
    path = next(p for p in (tmp_path / "scores").rglob("*.npy") if np.load(p).shape == (40,))
    if damage == "another pass's scores":  # parses, but is not this pass: the shape check refuses it
        np.save(path, first[1])
    else:
        DAMAGES[damage](path)
    scorer = CountingScorer()
    again = lm.score_cached(scorer, sequences, folder=tmp_path, progress=False)
    assert scorer.tokens == 40 and all(np.array_equal(a, b) for a, b in zip(first, again))


def tiny_corpus(folder):
    drafts = iter([({"id": "t/a", "title": "A", "author": "X", "year": 1900, "source": "test", "licence": "PD"},
                    "One short text."),
                   ({"id": "t/b", "title": "B", "author": "X", "year": 1901, "source": "test", "licence": "PD"},
                    "Another one.")])
    return corpus._write_corpus("tiny", folder, drafts, {"key": "0" * 64})


@pytest.mark.parametrize("damage", DAMAGES)
@pytest.mark.parametrize("part", ["meta.json", "offsets.npy", "tokens.bin"])
def test_a_damaged_token_array_is_tokenized_again(tmp_path, part, damage):
    texts = tiny_corpus(tmp_path)
    first = tokenize(texts, "gpt2", folder=tmp_path)
    expected = (first.tokens.tolist(), first.offsets.tolist())
    DAMAGES[damage](first.folder / part)
    again = tokenize(texts, "gpt2", folder=tmp_path)
    assert (again.tokens.tolist(), again.offsets.tolist()) == expected == ([3198, 1790, 2420, 13, 6610, 530, 13],
                                                                           [0, 4, 7])


@pytest.mark.parametrize("damage", DAMAGES)
def test_a_corpus_with_damaged_metadata_fails_to_open_and_is_set_aside(tmp_path, damage):
    built = tiny_corpus(tmp_path)
    DAMAGES[damage](built.folder / "metadata.json")
    assert cache.read_or_set_aside(built.folder, corpus.Corpus.open) is None  # load_corpus then builds it again
    assert not built.folder.exists() and built.folder.with_name(built.folder.name + ".damaged").is_dir()


@pytest.mark.parametrize("damage", DAMAGES)
def test_a_finished_run_with_damaged_metrics_is_evaluated_again_from_its_checkpoint(tmp_path, damage):
    cfg = validate(config.TrainConfig, layers=2, steps=12, batch=4, warmup=2, eval_sequences=16, checkpoint_every=6,
                   device="cpu")
    whole = train.train(cfg, tmp_path, progress=False)
    DAMAGES[damage](tmp_path / "metrics.json")
    assert not runs.finished(tmp_path)
    again = train.train(cfg, tmp_path, progress=False, callback=lambda *a: pytest.fail("trained again"))
    assert again.metrics["steps_this_call"] == 0  # resumed at the last step: evaluated, not trained
    assert again.per_position.tolist() == whole.per_position.tolist()
    assert again.metrics["loss_curve"] == whole.metrics["loss_curve"]


def test_a_run_with_neither_metrics_nor_checkpoint_readable_stops_with_one_line(tmp_path):
    (tmp_path / "metrics.json").write_text('{"config": ')
    with pytest.raises(runs.CheckpointError, match="metrics.json cannot be read .*delete it"):
        runs.load_run(tmp_path)


def test_a_full_disk_leaves_no_partial_entry_and_says_so_in_one_line(tmp_path, monkeypatch):
    target = tmp_path / "entry.bin"
    cache.atomic_write_bytes(target, b"old, whole")

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(cache.CacheFull, match=rf"no space left in {tmp_path} \(0.0 MB needed"):
        cache.atomic_write_bytes(target, b"new")
    assert target.read_bytes() == b"old, whole" and sorted(p.name for p in tmp_path.iterdir()) == ["entry.bin"]
    with pytest.raises(cache.CacheFull, match="no space left"):
        with cache.atomic_directory(tmp_path / "folder") as tmp:
            (tmp / "a").write_text("x")
            raise OSError(errno.ENOSPC, "No space left on device")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["entry.bin"]
    assert issubclass(cache.CacheFull, BookError)  # a chapter shows it as one line, not a traceback


def test_a_converted_model_whose_weights_were_cut_short_is_converted_again(tmp_path, capsys):
    from l2m import packaged

    whole = packaged.checkpoint("smollm2-135m")
    folder = tmp_path / "models" / "smollm2-135m"  # a copy: the shared cache's checkpoint stays as it is
    folder.mkdir(parents=True)
    for f in whole.iterdir():
        (folder / f.name).symlink_to(f) if f.suffix == ".safetensors" else (folder / f.name).write_bytes(f.read_bytes())
    assert packaged._verified(folder) == folder
    (weights,) = folder.glob("*.safetensors")
    weights.unlink()
    weights.write_bytes(whole.joinpath(weights.name).read_bytes()[:1000])
    with pytest.raises(ValueError, match="do not match"):
        packaged._verified(folder)
    assert cache.read_or_set_aside(folder, packaged._verified) is None  # checkpoint() then converts it again
    assert folder.with_name(folder.name + ".damaged").is_dir() and "could not be read" in capsys.readouterr().out
