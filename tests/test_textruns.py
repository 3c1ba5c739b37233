"""Tests of the natural-language experiment: held-out split, position-wise NLL, bootstrap bands, claims, BPE."""
import dataclasses

import numpy as np
import pytest
import torch

from l2m import bpe, claims, corpus, models, runs, text_claims, textruns, tokenizer
from l2m.config import TrainConfig
from l2m.tasks import TextTask

# --- the held-out split ------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def books_split():
    return textruns.split_documents("books")


def test_held_out_split_never_shares_a_document_with_training(books_split):
    train, held = books_split
    array = tokenizer.tokenize(corpus.load_corpus("books"), tokenizer.DEFAULT_TOKENIZER)
    nonempty = {array.doc_ids[i] for i in np.flatnonzero(np.diff(array.offsets) > 0)}
    assert held and not set(train) & set(held)
    assert set(train) | set(held) == nonempty  # every document with a token is in exactly one split
    assert len(held) < len(train) / 5  # one document in HELD_OUT = 20 is held out, about


def test_training_windows_never_touch_held_out_documents():
    """TextTask's training batches at L = 1024 stay inside training documents; the sentence windows inside held-out ones."""
    task = TextTask(TrainConfig(task="text", seq_len=1024), torch.device("cpu"))
    array = tokenizer.tokenize(corpus.load_corpus("books"), tokenizer.DEFAULT_TOKENIZER)
    held = textruns.held_out_documents(task, array.offsets)
    owner = np.full(array.n_tokens, -1)
    for d in range(array.n_docs):
        owner[array.offsets[d]: array.offsets[d + 1]] = d
    held_mask = np.zeros(array.n_docs, bool)
    held_mask[held] = True
    for seed in range(8):  # 8 × 64 windows drawn as training draws them
        batch = task.sample(seed, 64)
        targets = batch.targets.numpy()
        # locate each window by its first tokens' position: the window is tokens[first : first + L]
        starts, cum = task.windows["train"]
        r = torch.randint(int(cum[-1]), (64,), generator=torch.Generator().manual_seed(seed)).numpy()
        doc = np.searchsorted(cum, r, side="right")
        first = starts[doc] + r - np.concatenate([[0], cum])[doc]
        assert np.array_equal(array.tokens[first[:, None] + np.arange(1024)], targets)
        assert not held_mask[owner[first]].any() and not held_mask[owner[first + 1023]].any()
    tok = tokenizer.load_tokenizer(tokenizer.DEFAULT_TOKENIZER)
    windows, owners = textruns.sentence_windows(array.tokens, array.offsets, held[:3], 1024, tok.decode, per_doc=2)
    assert held_mask[owners].all() and len(windows) >= 3


# --- position-wise NLL ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("arch", ["gpt2", "mamba"])
def test_position_nll_is_the_sum_of_per_token_losses(arch):
    """window_nll at every position equals −log softmax of a direct forward pass over the prefix alone.

    Tolerance: fp32 logits of a forward over 1..16 tokens against the full window's; the same sums in another
    order differ by ~1e-6 nats here; 1e-4 leaves a hundredfold margin, far below any NLL difference read off."""
    torch.manual_seed(0)
    model = models.build_model(models.model_config(arch, "tiny", "text", 16, vocab_size=50)).eval()
    windows = np.random.default_rng(1).integers(1, 50, size=(3, 16))
    nll = textruns.window_nll(model, windows, bos=0, chunk=2)
    direct = np.zeros_like(nll)
    with torch.no_grad():
        for i, w in enumerate(windows):
            inputs = torch.tensor(np.concatenate([[0], w[:-1]]))[None]
            for t in range(16):
                logits = model(inputs[:, : t + 1])[0, -1].double()  # the prediction of token t from its prefix
                direct[i, t] = -torch.log_softmax(logits, -1)[w[t]].item()
    np.testing.assert_allclose(nll, direct, atol=1e-4)
    np.testing.assert_allclose(nll.sum(1), direct.sum(1), atol=16e-4)  # a sequence's NLL is its tokens' sum


# --- bootstrap and smoothing ---------------------------------------------------------------------------------------

def _synthetic(delta: np.ndarray, n_docs: int = 40, seed: int = 0) -> tuple[textruns.PositionNLL, textruns.PositionNLL]:
    """Two runs on the same documents whose true difference at every position is ``delta``."""
    rng = np.random.default_rng(seed)
    n = len(delta)
    counts = rng.integers(1, 6, n_docs).astype(float)
    base = 4 - 0.2 * np.log(np.arange(1, n + 1)) + rng.normal(0, 0.3, (n_docs, 1))  # documents differ
    a = counts[:, None] * base + rng.normal(0, 0.4, (n_docs, n)) * np.sqrt(counts)[:, None]
    b = counts[:, None] * (base - delta) + rng.normal(0, 0.4, (n_docs, n)) * np.sqrt(counts)[:, None]
    ids = tuple(f"d{i}" for i in range(n_docs))
    return textruns.PositionNLL("a", a, counts, ids), textruns.PositionNLL("b", b, counts, ids)


def test_bootstrap_band_covers_a_known_difference():
    """The paired ±2-sd bootstrap band of a − b covers the true difference at about 95 % of positions.

    64 positions with independent noise: misses are Binomial(64, ~0.05), mean 3.2; more than 10 has probability
    under 1e-3. A band wide enough to cover anything would also cover δ + 0.5: it must not."""
    delta = 0.3 * np.exp(-np.arange(1, 65) / 10) - 0.1
    a, b = _synthetic(delta)
    draws = textruns.redraws(40, 1000, seed=3)
    diff = textruns.bootstrap(a, draws) - textruns.bootstrap(b, draws)
    centre, half = a.mean - b.mean, 2 * diff.std(0, ddof=1)
    assert np.sum(np.abs(centre - delta) > half) <= 10
    assert np.all(np.abs(centre - (delta + 0.5)) > half)


def test_log_bins_average_every_position_once():
    centres, matrix = textruns.log_bins(1024)
    np.testing.assert_allclose(matrix.sum(1), 1.0, rtol=1e-12)
    assert np.array_equal((matrix > 0).sum(0), np.ones(1024))  # every position in exactly one window
    assert np.all(np.diff(centres) > 0) and centres[0] == 1.0


def test_statistic_weights_are_exact_on_closed_forms():
    t = np.arange(1, 501)
    curve = 3.0 - 0.25 * np.log(t)  # float64 arithmetic: exact up to rounding
    np.testing.assert_allclose(text_claims.slope_weights(500) @ curve, -0.25, atol=1e-12)
    np.testing.assert_allclose(text_claims.late_weights(500) @ curve, curve[t > 50].mean(), atol=1e-12)
    np.testing.assert_allclose(text_claims.early_weights(500) @ curve, curve[:10].mean(), atol=1e-12)


# --- claims --------------------------------------------------------------------------------------------------------

def _run(arch: str, n_params: int, converged: bool = True) -> runs.Run:
    cfg = TrainConfig(arch=arch, task="text", seq_len=200, n_layer=2 if arch == "gpt2" else 4)
    mcfg = models.model_config(arch, "tiny", "text", 200, vocab_size=4096, n_layer=cfg.n_layer)
    return runs.Run(None, {"config": dataclasses.asdict(cfg), "model_config": mcfg.to_dict(), "n_params": n_params,
                           "convergence": {"verdict": "converged" if converged else "not converged"}})


def _pair(gpt2_curve, mamba_curve, n_params=1000, converged=True, seed=0) -> text_claims.Pair:
    """Runs whose per-document NLLs are the curves plus small noise (sd 0.05 nats per position and document)."""
    rng = np.random.default_rng(seed)
    counts = np.ones(30)
    ids = tuple(f"d{i}" for i in range(30))
    nll = [textruns.PositionNLL(a, c + rng.normal(0, 0.05, (30, len(c))), counts, ids)
           for a, c in (("gpt2", gpt2_curve), ("mamba", mamba_curve))]
    return text_claims.Pair(_run("gpt2", n_params, converged), _run("mamba", n_params + 10), *nll)


T = np.arange(1, 201)
FALLING = 4.0 - 0.3 * np.log(T)  # keeps falling with ln t
PLATEAU = np.maximum(FALLING - 0.2, 3.2)  # better early, flat from t ≈ 10 on (ln t > 2.0)


def test_claims_hold_on_the_papers_picture_and_fail_on_its_mirror():
    right = text_claims.chapter_claims([_pair(FALLING, PLATEAU)])
    assert [c.verdict for c in right] == [claims.HOLDS] * 3
    wrong = text_claims.chapter_claims([_pair(PLATEAU, FALLING)])  # GPT2 flat, Mamba falling: every claim reversed
    assert [c.verdict for c in wrong] == [claims.FAILS] * 3


def test_gap_claim_holds_when_the_gap_narrows_and_fails_when_it_widens():
    small, large = _pair(FALLING, PLATEAU, 1000), _pair(FALLING, np.maximum(FALLING - 0.2, 2.9), 5000, seed=1)
    assert text_claims.chapter_claims([small, large])[-1].verdict == claims.HOLDS
    reversed_ = [_pair(FALLING, np.maximum(FALLING - 0.2, 2.9), 1000), _pair(FALLING, PLATEAU, 5000, seed=1)]
    assert text_claims.chapter_claims(reversed_)[-1].verdict == claims.FAILS
    # Mamba ahead everywhere in both pairs, by more in the larger: Mamba − GPT2 falls from −0.2 to −0.4, a "smaller"
    # signed gap, but GPT2 has no lead to narrow
    mamba_ahead = [_pair(FALLING, FALLING - 0.2, 1000), _pair(FALLING, FALLING - 0.4, 5000, seed=1)]
    assert text_claims.chapter_claims(mamba_ahead)[-1].verdict == claims.FAILS


def test_ordering_finds_where_gpt2_pulls_ahead():
    """FALLING − PLATEAU is 0.2 up to t ≈ 7.4, then 0.8 − 0.3 ln t: positive below t = e^(8/3) ≈ 14.4, negative above."""
    pair = _pair(FALLING, PLATEAU)
    found = text_claims.ordering(pair, textruns.redraws(30, seed=0))
    assert found.mamba_ahead[found.centres < 12].all() and found.gpt2_ahead[found.centres > 18].all()
    assert 12 <= found.gpt2_from <= 18 and "GPT2 is ahead from t ≈ 1" in found.sentence()
    mirror = text_claims.ordering(_pair(PLATEAU, FALLING), textruns.redraws(30, seed=0))
    assert mirror.gpt2_from is None and mirror.gpt2_ahead[mirror.centres < 12].all()
    assert "GPT2 is not ahead at the last positions" in mirror.sentence()
    # GPT2 − Mamba early less late, from the closed form: 0.2 up to t = 7, 0.8 − 0.3 ln t from t = 8 on
    exact = text_claims.early_weights(200) @ (FALLING - PLATEAU) - text_claims.late_weights(200) @ (FALLING - PLATEAU)
    assert exact > 0.5 and abs(found.gain - exact) < 4 * found.gain_sd and found.gain_sd < 0.02
    assert abs(mirror.gain + exact) < 4 * mirror.gain_sd and f"{found.gain:+.3f}" in found.sentence()
    assert "GPT2 uses the later past better" in found.sentence() and "loses ground" in mirror.sentence()
    level = text_claims.ordering(_pair(FALLING, FALLING - 0.2), textruns.redraws(30, seed=0))  # a constant gap: no gain
    assert abs(level.gain) < 3 * level.gain_sd and "no change resolved" in level.sentence()
    assert text_claims.orderings([]) == text_claims.NO_TEXT_RUNS


def test_no_claim_rests_on_an_unconverged_run():
    rows = text_claims.chapter_claims([_pair(FALLING, PLATEAU, converged=False)])
    assert all(c.verdict == claims.UNRESOLVED and "converged" in c.why for c in rows)


def test_position_figure_has_both_panels():
    fig = text_claims.position_figure([_pair(FALLING, PLATEAU), _pair(FALLING, PLATEAU, 5000, converged=False)])
    names = [tr.name for tr in fig.data if tr.showlegend is not False]
    assert sum(n.startswith("GPT2 − Mamba") for n in names) == 2 and any("not converged" in n for n in names)
    assert fig.layout.xaxis.type == "log" and fig.layout.xaxis2.type == "log"


# --- the corpus BPE ----------------------------------------------------------------------------------------------

def test_corpus_bpe_loads_by_its_id_and_keeps_text_whole(tmp_path, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    folder = bpe.train_bpe("books", 4096)
    with pytest.raises(tokenizer.TokenizerUnavailable):  # an empty Hugging Face cache does not know the id yet
        tokenizer.load_tokenizer(bpe.hub_id(folder))
    name = bpe.register(folder)
    tok = tokenizer.load_tokenizer(name)
    assert len(tok) == 4096 and tok.bos_token == bpe.BOS and tok.convert_tokens_to_ids(bpe.BOS) == 0
    text = corpus.load_corpus("books").text("austen/emma")[:200_000]
    ids = tokenizer.encode(tok, [text])[0]
    assert tok.decode(ids) == text  # byte-level: no unknown token, nothing lost
    pieces = tokenizer.encode(tok, tokenizer.split_text(text, 4096))  # the token cache's chunking changes nothing
    assert [i for p in pieces for i in p] == ids


def test_a_grid_names_a_corpus_bpe_that_a_fresh_machine_trains_on_first_use(tmp_path, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    name = bpe.hub_id(bpe.train_bpe("books", 4096))
    assert not bpe.is_registered(name)
    bpe.provide(name)  # what the sweep does before a grid's text runs train
    assert bpe.is_registered(name) and len(tokenizer.load_tokenizer(name)) == 4096
    wrong = name[:-16] + "0" * 16  # same corpus and size, a key these merges do not have
    with pytest.raises(bpe.OtherMerges, match=name):
        bpe.provide(wrong)
    bpe.provide("smollm2-135m")  # not a corpus BPE: left to load_tokenizer
    assert sorted(p.name for p in (tmp_path / "hub").iterdir()) == ["models--" + name.replace("/", "--")]


def test_without_text_runs_the_section_says_so_in_one_line():
    assert text_claims.pairs([]) == [] and text_claims.chapter_claims([]) == []
    assert text_claims.status([]) == text_claims.note([], []) == text_claims.NO_TEXT_RUNS
    assert "\n" not in text_claims.NO_TEXT_RUNS and len(text_claims.empty_figure().data) == 0
