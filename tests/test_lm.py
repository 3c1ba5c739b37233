"""Scoring backends: chunked, batched scores equal a plain forward pass; the pass cache resumes."""
import numpy as np
import pytest
import torch

from l2m import lm
from l2m.params import ParameterError, validate

TEXTS = ["It is a truth universally acknowledged, that a single man in possession of a good fortune",
         "Call me Ishmael.", "The sea"]


def plain_scores(scorer, ids):
    """One unbatched forward of the whole model (logits for every position), then log-softmax."""
    with torch.no_grad():
        logits = scorer.model(torch.tensor([[scorer.bos_id, *ids]])).logits[0, :-1].double()
    return torch.log_softmax(logits, -1)[torch.arange(len(ids)), torch.tensor(ids)].numpy()


def encode(scorer, text):
    return [i for i in scorer.tokenizer(text)["input_ids"] if i != scorer.bos_id]


@pytest.fixture(scope="module")
def smollm2():
    return lm.TransformersScorer("smollm2-135m", batch_tokens=64, vocab_chunk=7)  # tiny bounds: many batches and chunks


@pytest.mark.parametrize("name", ["smollm2-135m", "gemma3-270m"])
def test_batched_chunked_scores_equal_a_plain_forward(name, smollm2):
    scorer = smollm2 if name == "smollm2-135m" else lm.TransformersScorer(name, batch_tokens=64, vocab_chunk=7)
    sequences = [np.array(encode(scorer, t)) for t in TEXTS]
    scores = scorer.score(sequences)
    for ids, got in zip(sequences, scores):
        assert got.dtype == np.float64 and got.shape == ids.shape
        assert np.allclose(got, plain_scores(scorer, list(ids)), atol=2e-4)
        assert np.all(got < 0)
    assert scorer.bos_id == scorer.tokenizer.convert_tokens_to_ids(lm.MODELS[name].bos)


@pytest.fixture(scope="module")
def gemma():
    return lm.TransformersScorer("gemma3-270m", batch_tokens=64, vocab_chunk=7)


@pytest.mark.parametrize("name", ["smollm2-135m", "gemma3-270m"])
def test_a_pass_reusing_a_prefix_cache_equals_the_pass_scored_from_scratch(name, smollm2, gemma):
    """vCLUB's passes run only Y after X' read from another pass's KV cache (fp32: within 1e-4 nats a token).

    SmolLM2 keeps the cache of every layer; Gemma's sliding-window layers cannot be cut to a prefix, so its
    extensions are scored whole: the same numbers either way."""
    scorer = smollm2 if name == "smollm2-135m" else gemma
    root = np.array(encode(scorer, TEXTS[0]))
    other = root[::-1].copy()  # a second root of the same length: both run in one batch
    more = [np.array(encode(scorer, t)) for t in TEXTS[1:]]
    extensions = [(0, more[0]), (5, more[0]), (5, more[0][::-1].copy()), (5, more[1]), (len(root), more[1])]
    families = [(root, extensions), (other, [(5, more[0]), (3, more[1])])]
    done = [item for batch in scorer.score_extensions(families) for item in batch]
    assert sorted(f for f, _, _ in done) == [0, 1]
    for f, root_scores, got in done:
        base, family = families[f]
        assert np.allclose(root_scores, plain_scores(scorer, list(base)), atol=1e-4)
        for (n, continuation), scores in zip(family, got):
            whole = np.concatenate([base[:n], continuation])
            assert scores.shape == whole.shape
            assert np.abs(scores - plain_scores(scorer, list(whole))).max() < 1e-4, (f, n, len(continuation))


def test_packing_does_not_change_a_score(smollm2):
    """Passes packed many to a batch (right padding) score as each one alone, within fp32 rounding (1e-4 nats)."""
    sequences = [np.array(encode(smollm2, t))[:k] for t in TEXTS for k in (2, 3, 9, 40)]
    packed = lm.TransformersScorer("smollm2-135m", batch_tokens=4096)
    alone = [smollm2.score([s])[0] for s in sequences]
    for a, b in zip(packed.score(sequences), alone):
        assert a.shape == b.shape and np.abs(a - b).max() < 1e-4


def test_score_cache_with_shared_prefixes_equals_plain_scoring(tmp_path, smollm2):
    """score_cached with ``extends`` (a root scored with its extensions, or a root already on disk) returns
    what the plain passes give, and stores every pass under its own tokens."""
    root = np.array(encode(smollm2, TEXTS[0]))
    sequences = [root, np.concatenate([root[:4], [11, 12, 13]]), np.concatenate([root[:6], [21, 22]]), root[3:9]]
    extends = {1: (0, 4), 2: (0, 6)}
    plain = smollm2.score(sequences)
    first = lm.score_cached(smollm2, sequences, folder=tmp_path, progress=False, extends=extends)
    assert all(np.abs(a - b).max() < 1e-4 for a, b in zip(first, plain))
    for path in list((tmp_path / "scores").rglob("*.npy")):
        if np.load(path).shape != root.shape:
            path.unlink()  # the root stays on disk, its extensions go: they are scored from the root's prefix
    again = lm.score_cached(smollm2, sequences, folder=tmp_path, progress=False, extends=extends)
    assert all(np.abs(a - b).max() < 1e-4 for a, b in zip(again, plain))


def test_batches_bound_padded_tokens():
    lengths = [5, 100, 7, 60, 60, 3]
    batches = lm._batches(lengths, 128)
    assert sorted(i for b in batches for i in b) == list(range(6))
    assert all(len(b) * lengths[b[0]] <= 128 or len(b) == 1 for b in batches)
    assert all(lengths[b[0]] == max(lengths[i] for i in b) for b in batches)


class CountingScorer:
    """A deterministic stand-in: log q(w_t) = −(1 + w_t mod 7)/3; can fail after a number of calls."""

    name, fingerprint, batch_tokens = "counting", "f" * 64, 8

    def __init__(self, fail_after=None):
        self.calls, self.fail_after = 0, fail_after

    def score(self, sequences, progress=False):
        self.calls += 1
        if self.fail_after is not None and self.calls > self.fail_after:
            raise KeyboardInterrupt("interrupted")
        return [-(1 + np.asarray(s) % 7) / 3.0 for s in sequences]


def test_score_cache_resumes_after_an_interruption(tmp_path):
    sequences = [np.arange(n) + n for n in (3, 5, 8, 2, 9, 4)]
    reference = CountingScorer().score(sequences)
    interrupted = CountingScorer(fail_after=1)
    with pytest.raises(KeyboardInterrupt):
        lm.score_cached(interrupted, sequences, folder=tmp_path, progress=False)
    stored = list((tmp_path / "scores").rglob("*.npy"))
    assert 0 < len(stored) < len(sequences)  # the first batch was kept
    resumed = CountingScorer()
    results = lm.score_cached(resumed, sequences, folder=tmp_path, progress=False)
    assert all(np.array_equal(a, b) for a, b in zip(results, reference))
    again = CountingScorer(fail_after=0)  # everything is on disk now: no scoring at all
    assert all(np.array_equal(a, b) for a, b in zip(lm.score_cached(again, sequences, folder=tmp_path), reference))


def test_unknown_model_is_one_clear_error():
    from l2m.chapters import HilbergChapter

    assert lm.available("smollm2-135m") and not lm.available("no-such/model-xyz")
    with pytest.raises(ParameterError, match="model = 'no-such/model-xyz' is not allowed: use a packaged model"):
        validate(HilbergChapter, model="no-such/model-xyz")
    with pytest.raises(ValueError, match="backend must be"):
        lm.make_scorer("smollm2-135m", backend="onnx")


@pytest.mark.gpu
def test_vllm_scores_match_transformers(smollm2):
    vllm_scorer = lm.VLLMScorer("smollm2-135m", dtype="float32", gpu_memory_utilization=0.3, max_model_len=512)
    sequences = [np.array(encode(smollm2, t)) for t in TEXTS]
    for a, b in zip(vllm_scorer.score(sequences), smollm2.score(sequences)):
        assert np.allclose(a, b, atol=2e-2)


def test_bf16_model_projects_onto_the_vocabulary_in_fp32():
    scorer = lm.TransformersScorer("smollm2-135m", dtype="bfloat16", vocab_chunk=5)
    ids = encode(scorer, TEXTS[0])
    got = scorer.score([np.array(ids)])[0]
    with torch.no_grad():
        hidden = scorer.model.base_model(torch.tensor([[scorer.bos_id, *ids]])).last_hidden_state[0, :-1]  # (T, H) bf16
        weight = scorer.model.get_output_embeddings().weight  # (V, H) bf16
        fp32 = torch.log_softmax((hidden.float() @ weight.float().T).double(), -1)
        bf16 = torch.log_softmax((hidden @ weight.T).double(), -1)  # the projection rounded to bf16 first
    pick = torch.arange(len(ids)), torch.tensor(ids)
    assert np.allclose(got, fp32[pick].numpy(), atol=1e-5)
    assert np.abs(got - bf16[pick].numpy()).max() > 1e-3  # bf16 logits are off by up to ~0.06 nats
