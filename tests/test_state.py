"""l2m.state: history-state sizes against the caches transformers keeps, and the exact Gaussian references."""
import math

import numpy as np
import pytest

from l2m import gaussian, models, references, state


@pytest.mark.parametrize("arch", models.ARCHS)
@pytest.mark.parametrize("position_embedding", [True, False])
def test_formula_matches_the_cache_transformers_keeps(arch, position_embedding):
    cfg = models.model_config(arch, "tiny", "gaussian", 32, channels=2, position_embedding=position_embedding)
    model = models.build_model(cfg)
    formula = state.history_state(cfg)
    if arch == "gpt2":  # the KV cache grows by 2·n_layer·d_model numbers a token
        assert formula.per_token == 2 * 2 * 64 and formula.fixed == 0
        assert [state.measured_state(model, t) for t in (8, 32)] == [formula.at(8), formula.at(32)]
    elif arch == "swa":  # the same per token, for the last window − 1 = 15 tokens only; the position is no tensor
        position = 1 if position_embedding else 0
        assert formula.per_token == 2 * 2 * 64 and formula.max_tokens == 15 and formula.fixed == position
        assert [formula.at(t) for t in (8, 15, 32)] == [position + 256 * 8, position + 256 * 15, position + 256 * 15]
        assert [state.measured_state(model, t) for t in (8, 15, 16, 32)] == [
            formula.at(t) - position for t in (8, 15, 16, 32)]
    else:  # constant; transformers keeps all d_conv inputs of each convolution where d_conv − 1 suffice
        conv_channels = cfg.d_inner + (2 * cfg.d_state if arch == "mamba2" else 0)
        extra = cfg.n_layer * conv_channels - (1 if position_embedding else 0)
        assert formula.per_token == 0
        assert state.measured_state(model, 8) == state.measured_state(model, 32) == formula.at(32) + extra


def test_paper_mamba_130m_state():
    cfg = models.model_config("mamba", "130m", "text", 1024, vocab_size=10, position_embedding=False)
    assert state.history_state(cfg).at(4096) == 24 * (1536 * 16 + 1536 * 3)  # Appx. D: n_layer·(d_inner·(d_state + d_conv − 1))


def test_marginal_kl_is_minus_log_conditional_std():
    cov = gaussian.covariance(3, "power")
    kl = references.marginal_kl(cov)
    assert kl.mean() == pytest.approx(-0.5 * np.linalg.slogdet(cov)[1] / len(cov), rel=1e-12)
    # a Monte Carlo check of the expected KL of N(0, 1) against the exact conditionals
    sample = gaussian.GaussianSampler(cov, channels=256).sample(64, np.random.default_rng(0))
    sampled = gaussian.conditional_kl(np.zeros_like(sample.mean), np.ones_like(sample.std), sample.mean, sample.std)
    assert np.allclose(sampled.mean(0), kl, rtol=0.05, atol=0.005)


def test_window_kl_against_the_schur_complement():
    cov = gaussian.covariance(2, "power")
    k = 3
    var = references.window_variance(cov, k)
    for t in range(len(cov)):
        w = list(range(max(0, t - k), t))
        schur = cov[t, t] - (cov[t, w] @ np.linalg.solve(cov[np.ix_(w, w)], cov[w, t]) if w else 0.0)
        assert var[t] == pytest.approx(schur, rel=1e-10)
    kls = [references.window_kl(cov, k).mean() for k in (0, 1, 2, 4, 8, 15)]
    assert kls[0] == pytest.approx(references.marginal_kl(cov).mean(), rel=1e-12)  # no window: the marginal
    assert all(a > b for a, b in zip(kls, kls[1:-1])) and kls[-1] == pytest.approx(0, abs=1e-12)


def test_canonical_pairs_add_up_to_the_bipartite_mi():
    for layers, expected in ((2, 4), (3, 11), (4, 32)):  # measured for this book (not in the paper): about 4, 11, 32 per channel
        cov = gaussian.covariance(layers, "power")
        ell = len(cov) // 2
        mi = references.canonical_mi(cov, ell)
        assert mi.sum() == pytest.approx(gaussian.bipartite_mi(cov, ell), rel=1e-9)
        assert np.all(np.diff(mi) <= 1e-12)
        assert references.minimal_state_dim(cov, ell) == expected
    assert references.minimal_state_dim(cov, ell, fraction=1.0) <= ell
    assert math.isclose(references.canonical_mi(np.eye(4), 2).sum(), 0.0, abs_tol=1e-12)


def test_a_fractional_expand_narrows_the_ssm_state_and_not_the_residual_stream():
    # chapter 05's state scan: d_inner = expand · d_model below d_model; the cache transformers keeps holds
    # n_layer · d_inner · (d_state + d_conv) numbers (one convolution column more than the formula counts)
    for expand, d_inner in ((1 / 32, 1), (1 / 8, 4), (0.5, 16)):
        cfg = models.model_config("mamba", "tiny", "gaussian", 64, channels=2, n_layer=2, d_model=32, expand=expand,
                                  d_conv=2, d_state=2)
        model = models.build_model(cfg)
        assert cfg.d_inner == d_inner and model.backbone.layers[0].mixer.in_proj.in_features == 32
        assert state.history_state(cfg).at(64) == 2 * d_inner * (2 + 1) + 1
        assert state.measured_state(model, 64) == 2 * d_inner * (2 + 2)
    with pytest.raises(ValueError, match="whole"):
        models.model_config("mamba", "tiny", "gaussian", 64, channels=2, d_model=32, expand=0.3)
    with pytest.raises(ValueError, match="Mamba2 takes a whole expand"):
        models.model_config("mamba2", "tiny", "gaussian", 64, channels=2, d_model=32, expand=0.5)
    models.build_model(models.model_config("mamba2", "tiny", "gaussian", 64, channels=2, d_model=4, expand=1.0))
