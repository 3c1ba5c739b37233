"""l2m.models: the paper's sizes, causality, output shapes, the attention window, the position embedding,
the kernel path (chapter 04)."""
import logging
import subprocess
import sys

import pytest
import torch

from l2m import models


def test_importing_models_leaves_logging_and_warnings_alone():
    code = ("import logging, warnings; import l2m.models; "  # torch and numpy add filters of their own
            "assert not any(f[1] is not None and 'IProgress' in f[1].pattern for f in warnings.filters); "
            "assert logging.getLogger('transformers.integrations.hub_kernels').level == logging.NOTSET")
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, timeout=120)


def test_quiet_library_warnings_is_an_explicit_call():
    models.quiet_library_warnings()
    assert logging.getLogger("transformers.integrations.hub_kernels").level == logging.ERROR


def test_sizes_follow_the_papers_table():
    table = {("gpt2", "125m"): (12, 768), ("gpt2", "355m"): (24, 1024), ("gpt2", "774m"): (36, 1280),
             ("mamba", "50m"): (12, 512), ("mamba", "70m"): (24, 512), ("mamba", "130m"): (24, 768),
             ("mamba", "370m"): (48, 1024), ("mamba", "790m"): (48, 1536), ("mamba", "1.4b"): (48, 2048),
             ("mamba2", "130m"): (24, 768), ("mamba2", "370m"): (48, 1024), ("mamba2", "790m"): (48, 1536)}
    for (arch, size), (n_layer, d_model) in table.items():
        s = models.SIZES[arch][size]
        assert (s.n_layer, s.d_model) == (n_layer, d_model)
    assert models.SIZES["mamba"]["130m"].d_state == 16 and models.SIZES["mamba2"]["130m"].d_state == 128
    assert models.SIZES["mamba2"]["130m"].head_dim == 64
    for size, s in models.SIZES["swa"].items():  # not in the paper: GPT2's widths with a window
        gpt2 = models.SIZES["gpt2"][size]
        assert (s.n_layer, s.d_model, s.n_head) == (gpt2.n_layer, gpt2.d_model, gpt2.n_head) and s.window > 0


def test_swa_has_about_gpt2s_parameters_at_125m():
    with torch.device("meta"):  # the gated MLP at 8·d/3 holds GPT2's 8·d² a layer; no position table
        counts = [models.count_parameters(models.build_model(models.model_config(
            arch, "125m", "text", 1024, vocab_size=50257, position_embedding=False))) for arch in ("gpt2", "swa")]
    assert counts[1] == pytest.approx(counts[0], rel=0.01)


@pytest.mark.parametrize("arch,size,expected", [("gpt2", "125m", 124_439_808), ("mamba", "130m", 129.1e6),
                                                ("mamba2", "130m", 129.0e6)])
def test_paper_sizes_have_the_papers_parameter_counts(arch, size, expected):
    # GPT-NeoX's 50,277-token vocabulary (the paper's text runs), built without memory on the meta device
    cfg = models.model_config(arch, size, "text", 1024, vocab_size=50277 if arch != "gpt2" else 50257,
                              position_embedding=False)
    with torch.device("meta"):
        model = models.build_model(cfg)
    assert models.count_parameters(model) == pytest.approx(expected, rel=1e-3)  # GPT2: exactly the 124,439,808 of the released GPT-2


def test_mamba2_heads_fill_the_inner_width():
    cfg = models.model_config("mamba2", "tiny", "gaussian", 16, channels=4)
    backbone = models.build_model(cfg).backbone
    assert backbone.config.num_heads * backbone.config.head_dim == cfg.expand * cfg.d_model
    assert backbone.config.n_groups == 1 and backbone.config.state_size == 4


@pytest.mark.numerics
@pytest.mark.parametrize("arch", models.ARCHS)
def test_gaussian_outputs_and_causality(arch):
    torch.manual_seed(0)
    model = models.build_model(models.model_config(arch, "tiny", "gaussian", 16, channels=3)).eval()
    x = torch.randn(2, 16, 3)
    with torch.no_grad():
        mean, std = model(x)
        y = x.clone()
        y[:, 9:] += 5.0  # change the future from position 9 on
        mean2, std2 = model(y)
    assert mean.shape == std.shape == (2, 16, 3) and bool((std > 0).all())
    # exact, not close: a masked key's weight is exp(−inf) = 0 and a scan's past never reads the future, so the past
    # positions see bit-identical operands in the same shapes (checked under every ATEN_CPU_CAPABILITY here)
    assert torch.equal(mean[:, :9], mean2[:, :9]) and torch.equal(std[:, :9], std2[:, :9])
    assert not torch.allclose(mean[:, 9:], mean2[:, 9:], atol=1e-3)


@pytest.mark.parametrize("arch", models.ARCHS)
def test_text_logits_and_tied_head(arch):
    model = models.build_model(models.model_config(arch, "tiny", "text", 8, vocab_size=50))
    logits = model(torch.randint(50, (2, 8)))
    assert logits.shape == (2, 8, 50) and model.head.weight is model.embed.weight


def test_window_overrides_the_size_and_applies_to_swa_only():
    cfg = models.model_config("swa", "tiny", "gaussian", 32, channels=2, window=5)
    assert cfg.window == 5 and models.build_model(cfg).backbone.config.sliding_window == 5
    assert models.model_config("swa", "tiny", "gaussian", 32, channels=2).window == 16  # 0 keeps the size's
    assert models.model_config("gpt2", "tiny", "gaussian", 32, channels=2, window=5).window == 0
    assert models.model_config("mamba", "tiny", "gaussian", 32, channels=2, window=5).window == 0


def test_n_head_overrides_the_size_for_attention_only_and_keeps_the_parameter_count():
    # GPT2's c_attn is d_model × 3·d_model whatever the heads: n_head splits the same weights into heads of
    # d_model / n_head dimensions, so one head differs from four by the function only
    four = models.build_model(models.model_config("gpt2", "tiny", "text", 8, vocab_size=50, d_model=16))
    one = models.build_model(models.model_config("gpt2", "tiny", "text", 8, vocab_size=50, d_model=16, n_head=1))
    assert (four.backbone.config.n_head, one.backbone.config.n_head) == (4, 1)
    assert models.count_parameters(one) == models.count_parameters(four)
    one.load_state_dict(four.state_dict())
    tokens = torch.randint(50, (2, 8))
    with torch.no_grad():
        first_same = torch.allclose(one(tokens)[:, 0], four(tokens)[:, 0], atol=1e-6)  # one token: softmax over one
        later_differ = not torch.allclose(one(tokens)[:, 1:], four(tokens)[:, 1:], atol=1e-4)
    assert first_same and later_differ
    swa = models.model_config("swa", "tiny", "gaussian", 32, channels=2, n_head=2)
    assert swa.n_head == 2 and models.build_model(swa).backbone.config.num_attention_heads == 2
    assert models.model_config("mamba", "tiny", "gaussian", 32, channels=2, n_head=2).n_head == 0
    with pytest.raises(ValueError, match="d_model = 16 is not a multiple of 3 heads"):
        models.model_config("gpt2", "tiny", "text", 8, vocab_size=50, d_model=16, n_head=3)


@pytest.mark.numerics
def test_window_limits_the_receptive_field():
    # One layer lets output t see inputs t − (window − 1) .. t; n_layer layers stack that to
    # n_layer·(window − 1) tokens back; the embedding and head MLPs act on one token each, and without
    # the position embedding nothing else reaches further.
    torch.manual_seed(0)
    cfg = models.model_config("swa", "tiny", "gaussian", 32, channels=3, position_embedding=False, window=5)
    model, reach, t = models.build_model(cfg).eval(), cfg.n_layer * (cfg.window - 1), 25
    x = torch.randn(1, 32, 3)
    with torch.no_grad():
        mean, _ = model(x)
        for back, changes in ((reach, True), (reach + 1, False), (reach + 5, False)):
            y = x.clone()
            y[:, t - back] += 5.0
            moved = (model(y)[0][:, t] - mean[:, t]).abs().max().item()
            assert (moved > 1e-6) if changes else (moved == 0), (back, moved)  # masked keys add exactly 0


@pytest.mark.numerics
def test_swa_position_signal_comes_from_the_position_embedding():
    # rotary positions are relative: on a constant input every value vector is the same, so without
    # the absolute embedding every position predicts the same; with it the prediction depends on t
    torch.manual_seed(0)
    x = torch.ones(1, 16, 2)
    with torch.no_grad():
        for position_embedding in (False, True):
            model = models.build_model(models.model_config("swa", "tiny", "gaussian", 16, channels=2,
                                                           position_embedding=position_embedding)).eval()
            mean, _ = model(x)
            spread = (mean - mean[:, :1]).abs().max().item()
            # without it the positions differ by rounding only: attention averages t ≤ 16 equal value vectors, fp32
            # relative error ≤ 16·2^−24 ≈ 1e-6 per layer on outputs of order 1; 1e-5 is that with a 10× margin
            assert (spread > 1e-3) if position_embedding else (spread < 1e-5), (position_embedding, spread)


def test_position_embedding_switch():
    with_pe = models.build_model(models.model_config("mamba", "tiny", "gaussian", 16, channels=2))
    without = models.build_model(models.model_config("mamba", "tiny", "gaussian", 16, channels=2,
                                                     position_embedding=False))
    assert with_pe.position.weight.shape == (16, 32) and without.position is None
    assert models.count_parameters(with_pe) - models.count_parameters(without) == 16 * 32
    gpt2 = models.build_model(models.model_config("gpt2", "tiny", "gaussian", 16, channels=2, position_embedding=False))
    assert gpt2.cfg.position_embedding and gpt2.position is None and gpt2.backbone.wpe.weight.requires_grad  # its own


def test_size_errors_name_the_choices():
    with pytest.raises(ValueError, match="size '1.4b' is not a size of gpt2: use one of tiny, small, 125m"):
        models.model_config("gpt2", "1.4b", "gaussian", 16, channels=2)


def test_kernel_path_on_the_cpu():
    assert models.kernel_path("gpt2", "cpu") == models.kernel_path("swa", "cpu") == "sdpa"
    assert models.kernel_path("mamba", "cpu") == "mambapy"  # requirements.txt pins mambapy
    assert models.kernel_path("mamba2", "cpu") == "torch"


@pytest.mark.gpu
def test_ssm_kernels_on_cuda():
    import importlib.util

    expected = "mamba_ssm" if importlib.util.find_spec("mamba_ssm") else "torch"
    assert models.kernel_path("mamba2", "cuda") == expected
    model = models.build_model(models.model_config("mamba2", "tiny", "gaussian", 64, channels=4)).cuda()
    mean, std = model(torch.randn(2, 64, 4, device="cuda"))
    assert mean.shape == (2, 64, 4) and bool(torch.isfinite(mean).all())
