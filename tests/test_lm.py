"""Scoring backends: chunked, batched and cache-reusing scores equal a plain forward up to summation order, and
the scores are the exact ones up to fp32 rounding.

Both tolerances are bounds measured over many inputs, shapes, kernel paths and thread counts with a stated margin
(``l2m.numerics``, whose docstring says why packing changes fp32 rounding at all: the GEMMs' blocking follows the
matrix's shape). They still catch real defects: a score read one position off, or padding the model attends to,
is hundreds of bounds away (tested below).
"""
import numpy as np
import pytest
import torch

from l2m import lm, numerics, packaged
from l2m.params import ParameterError, validate

TEXTS = ["It is a truth universally acknowledged, that a single man in possession of a good fortune",
         "Call me Ishmael.", "The sea"]

pytestmark = pytest.mark.numerics  # make test-kernels runs these under every kernel path and thread count


def plain_scores(scorer, ids):
    """One unbatched fp32 forward of the whole model (its own head, logits for every position), then log-softmax."""
    with torch.no_grad():
        logits = scorer.model(torch.tensor([[scorer.bos_id, *ids]])).logits[0, :-1].double()
    return torch.log_softmax(logits, -1)[torch.arange(len(ids)), torch.tensor(ids)].numpy()


def encode(scorer, text):
    return [i for i in scorer.tokenizer(text)["input_ids"] if i != scorer.bos_id]


def same_function(a, b, model):
    """Two fp32 paths through the same function: equal up to summation order."""
    return np.abs(np.asarray(a) - np.asarray(b)).max() < numerics.FP32_PATH_DIFFERENCE[model]


@pytest.fixture(scope="module")
def smollm2():
    return lm.TransformersScorer("smollm2-135m", batch_tokens=64, vocab_chunk=7)  # tiny bounds: many batches and chunks


@pytest.fixture(scope="module")
def gemma():
    return lm.TransformersScorer("gemma3-270m", batch_tokens=64, vocab_chunk=7)


@pytest.mark.parametrize("name", ["smollm2-135m", "gemma3-270m"])
def test_batched_chunked_scores_equal_a_plain_forward(name, smollm2, gemma):
    scorer = smollm2 if name == "smollm2-135m" else gemma
    sequences = [np.array(encode(scorer, t)) for t in TEXTS]
    for ids, got in zip(sequences, scorer.score(sequences)):
        assert got.dtype == np.float64 and got.shape == ids.shape and np.all(got < 0)
        assert same_function(got, plain_scores(scorer, list(ids)), name)
    assert scorer.bos_id == scorer.tokenizer.convert_tokens_to_ids(packaged.MODELS[name].bos)


@pytest.mark.parametrize("name", ["smollm2-135m", "gemma3-270m"])
def test_a_pass_reusing_a_prefix_cache_equals_the_pass_scored_from_scratch(name, smollm2, gemma):
    """vCLUB's passes run only Y after X' read from another pass's KV cache.

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
        assert same_function(root_scores, plain_scores(scorer, list(base)), name)
        for (n, continuation), scores in zip(family, got):
            whole = np.concatenate([base[:n], continuation])
            assert scores.shape == whole.shape
            assert same_function(scores, plain_scores(scorer, list(whole)), name), (f, n, len(continuation))


def test_packing_does_not_change_a_score(smollm2):
    """Passes packed many to a batch (right padding) score as each one alone, up to summation order.

    Why they differ at all: not the padding (right padding is invisible to causal attention; the mask changes
    nothing, and a batch of two identical unpadded sequences differs from one alone exactly as much) and not
    the attention kernel (eager and SDPA differ by the same amount), but the fp32 matrix products, whose blocking
    and summation order follow the number of rows: packing puts a pass inside a larger matrix. On an AMD EPYC
    with AVX-512 the first token of TEXTS[0] differed by 1.58e-4 nats, and on an Intel Xeon with AVX-512 and 2 threads
    pieces of text by up to 1.62e-4, above the 1e-4 this test once used: an observation of one CPU, not a bound."""
    sequences = [np.array(encode(smollm2, t))[:k] for t in TEXTS for k in (2, 3, 9, 40)]
    packed = lm.TransformersScorer("smollm2-135m", batch_tokens=4096).score(sequences)
    alone = [smollm2.score([s])[0] for s in sequences]
    for ids, a, b in zip(sequences, packed, alone):
        assert a.shape == b.shape == ids.shape and same_function(a, b, "smollm2-135m")


@pytest.fixture(scope="module")
def exact_smollm2(smollm2):
    ids = np.array(encode(smollm2, TEXTS[0]))
    return ids, numerics.reference_scores("smollm2-135m", smollm2.bos_id, [ids])[0]


def test_the_scores_are_the_exact_ones_up_to_fp32_rounding(smollm2, exact_smollm2):
    ids, exact = exact_smollm2
    assert np.abs(smollm2.score([ids])[0] - exact).max() < numerics.FP32_SCORE_ERROR["smollm2-135m"]


def test_the_bounds_catch_a_wrong_score(smollm2, exact_smollm2):
    """The tolerances are not so loose that a real defect passes: a score read one position off, or a pass whose
    padding the model attends to (left padding without its mask), is far outside both bounds."""
    ids, exact = exact_smollm2
    with torch.no_grad():
        logits = smollm2.model(torch.tensor([[smollm2.bos_id, *ids]])).logits[0].double()  # (T + 1, V)
        shifted = torch.log_softmax(logits[1:-1], -1)[torch.arange(len(ids) - 1), torch.tensor(ids[:-1])].numpy()
        pad = smollm2.tokenizer.convert_tokens_to_ids("<|im_end|>")  # five pad tokens in front, attended to
        unmasked = smollm2.model(torch.tensor([[pad] * 5 + [smollm2.bos_id, *ids]])).logits[0, 5:-1].double()
        unmasked = torch.log_softmax(unmasked, -1)[torch.arange(len(ids)), torch.tensor(ids)].numpy()
    bound = numerics.FP32_SCORE_ERROR["smollm2-135m"]
    assert np.abs(shifted - exact[:-1]).max() > 100 * bound  # token t scored from the logits of position t + 1
    assert np.abs(unmasked - exact).max() > 10 * bound
    assert not same_function(unmasked, exact, "smollm2-135m")


def test_score_cache_with_shared_prefixes_equals_plain_scoring(tmp_path, smollm2):
    """score_cached with ``extends`` (a root scored with its extensions, or a root already on disk) returns
    what the plain passes give, and stores every pass under its own tokens."""
    root = np.array(encode(smollm2, TEXTS[0]))
    sequences = [root, np.concatenate([root[:4], [11, 12, 13]]), np.concatenate([root[:6], [21, 22]]), root[3:9]]
    extends = {1: (0, 4), 2: (0, 6)}
    plain = smollm2.score(sequences)
    first = lm.score_cached(smollm2, sequences, folder=tmp_path, progress=False, extends=extends)
    assert all(same_function(a, b, "smollm2-135m") for a, b in zip(first, plain))
    for path in list((tmp_path / "scores").rglob("*.npy")):
        if np.load(path).shape != root.shape:
            path.unlink()  # the root stays on disk, its extensions go: they are scored from the root's prefix
    again = lm.score_cached(smollm2, sequences, folder=tmp_path, progress=False, extends=extends)
    assert np.array_equal(again[0], first[0])  # read back from disk: bit for bit
    assert all(same_function(a, b, "smollm2-135m") for a, b in zip(again, plain))


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

    assert packaged.available("smollm2-135m") and not packaged.available("no-such/model-xyz")
    with pytest.raises(ParameterError, match="model = 'no-such/model-xyz' is not allowed: use a packaged model"):
        validate(HilbergChapter, model="no-such/model-xyz")
    with pytest.raises(ValueError, match="backend must be"):
        lm.make_scorer("smollm2-135m", backend="onnx")


@pytest.mark.gpu
def test_vllm_scores_match_transformers(smollm2):
    vllm_scorer = lm.VLLMScorer("smollm2-135m", dtype="float32", gpu_memory_utilization=0.3, max_model_len=512)
    sequences = [np.array(encode(smollm2, t)) for t in TEXTS]
    for a, b in zip(vllm_scorer.score(sequences), smollm2.score(sequences)):
        assert np.allclose(a, b, atol=2e-2)  # vLLM's CUDA kernels against the CPU: a GPU check, not an fp32 bound


def test_bf16_model_projects_onto_the_vocabulary_in_fp32():
    scorer = lm.TransformersScorer("smollm2-135m", dtype="bfloat16", vocab_chunk=5)
    ids = encode(scorer, TEXTS[0])
    got = scorer.score([np.array(ids)])[0]
    with torch.no_grad():
        hidden = scorer.model.base_model(torch.tensor([[scorer.bos_id, *ids]])).last_hidden_state[0, :-1]  # (T, H) bf16
        weight = scorer.model.get_output_embeddings().weight  # (V, H) bf16
        exact = torch.log_softmax(hidden.double() @ weight.double().T, -1)  # exact projection of the bf16 states
        bf16 = torch.log_softmax((hidden @ weight.T).double(), -1)  # the projection rounded to bf16 first
    pick = torch.arange(len(ids)), torch.tensor(ids)
    # the same bf16 hidden states projected in float64: the scorer's fp32 projection (in chunks of 5 rows) and
    # fp32 log-sum-exp are one part of the fp32 paths whose differences numerics.FP32_PATH_DIFFERENCE bounds
    assert same_function(got, exact[pick].numpy(), "smollm2-135m")
    assert np.abs(got - bf16[pick].numpy()).max() > 1e-3  # bf16 logits are off by up to ~0.06 nats


def test_a_gguf_conversion_parses_the_file_once_and_loads_what_separate_parses_load(tmp_path, monkeypatch):
    import gguf
    from transformers import AutoConfig

    from l2m import packaged

    writer = gguf.GGUFWriter(tmp_path / "tiny.gguf", "llama")  # a one-block llama: transformers reads its config
    writer.add_context_length(64), writer.add_embedding_length(8), writer.add_block_count(1)
    writer.add_feed_forward_length(16), writer.add_head_count(2), writer.add_head_count_kv(2)
    writer.add_layer_norm_rms_eps(1e-5), writer.add_vocab_size(10)
    writer.add_tensor("token_embd.weight", np.zeros((10, 8), dtype=np.float32))
    writer.write_header_to_file(), writer.write_kv_data_to_file(), writer.write_tensors_to_file(), writer.close()
    parses = []
    real_reader = gguf.GGUFReader
    monkeypatch.setattr(gguf, "GGUFReader", lambda *a, **k: parses.append(a) or real_reader(*a, **k))
    counting_reader = gguf.GGUFReader

    def configs():  # a checkpoint's conversion opens its GGUF for the config, the weights and the tokenizer
        return [AutoConfig.from_pretrained(str(tmp_path), gguf_file="tiny.gguf", local_files_only=True).to_dict()
                for _ in range(2)]

    separate = configs()
    assert len(parses) == 2 and separate[0]["hidden_size"] == 8
    with packaged._gguf_parsed_once():
        shared = configs()
    assert len(parses) == 3 and shared == separate
    assert gguf.GGUFReader is counting_reader  # the sharing ends with the block
