"""l2m.train: the loss falls, the KL is the closed form, runs resume exactly, bad states and parameters fail loudly."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from l2m import config, references, runs, tasks, train
from l2m.params import ParameterError, validate

SMALL = {"layers": 2, "steps": 40, "batch": 8, "warmup": 5, "eval_sequences": 16, "checkpoint_every": 10,
         "device": "cpu"}


def small(**values):
    return validate(config.TrainConfig, **(SMALL | values))


class Interrupt(Exception):
    pass


def stop_at(step):
    def callback(s, loss, model):
        if s == step:
            raise Interrupt
    return callback


@pytest.mark.parametrize("arch", ["gpt2", "mamba", "mamba2"])
@pytest.mark.slow
def test_a_few_steps_lower_the_loss(arch, tmp_path):
    run = train.train(small(arch=arch, steps=60, lr=1e-2), tmp_path, progress=False)
    losses = torch.load(tmp_path / "checkpoint.pt", weights_only=True)["losses"].numpy()
    assert len(losses) == 60 and losses[-10:].mean() < 0.7 * losses[:5].mean()
    assert run.metrics["metric"] == "kl" and run.per_position.shape == (16,)
    assert run.average == pytest.approx(run.per_position.mean()) and run.average > 0
    assert run.metrics["history_state"]["at_seq_len"] > 0 and run.metrics["git_revision"]


@pytest.mark.numerics
def test_gaussian_loss_is_the_closed_form_kl():
    cfg = small(channels=5)
    task = tasks.GaussianTask(cfg, torch.device("cpu"))
    batch = task.sample(1, 6)
    mean_q, std_q = torch.randn(6, 16, 5), torch.rand(6, 16, 5) + 0.2
    p = torch.distributions.Normal(batch.mean.double(), batch.std.expand_as(batch.mean).double())
    expected = torch.distributions.kl_divergence(p, torch.distributions.Normal(mean_q.double(), std_q.double())).mean(-1)
    # the fp32 loss against float64: ~10 operations on terms of order 1–25 (std_q ≥ 0.2), each rounded by 2^−24,
    # so |error| ≤ 10 · 6e-8 · 25 ≈ 1.5e-5 absolute in the worst case, ~1e-6 relative; rtol 1e-5 + atol 1e-6
    # is that bound, not a reading of one CPU
    assert torch.allclose(task.loss((mean_q, std_q), batch).double(), expected, rtol=1e-5, atol=1e-6)
    assert torch.allclose(task.loss((batch.mean, batch.std.expand_as(batch.mean)), batch), torch.zeros(6, 16), atol=1e-6)
    # predicting N(0, 1) costs −ln C_tt on average (chapter 03), over many fresh sequences
    big = task.sample(2, 2000)
    marginal = task.loss((torch.zeros_like(big.mean), torch.ones_like(big.mean)), big).mean(0).numpy()
    assert np.allclose(marginal, references.marginal_kl(task.cov), rtol=0.05, atol=0.003)


@pytest.mark.slow
@pytest.mark.numerics
def test_a_resumed_run_ends_with_the_same_metrics(tmp_path):
    cfg = small(arch="mamba2", steps=25)
    whole = train.train(cfg, tmp_path / "whole", progress=False)
    with pytest.raises(Interrupt):
        train.train(cfg, tmp_path / "cut", progress=False, callback=stop_at(17))  # checkpoints at 0, 10
    assert torch.load(tmp_path / "cut" / "checkpoint.pt", weights_only=True)["step"] == 10
    resumed = train.train(cfg, tmp_path / "cut", progress=False)
    assert resumed.metrics["steps_this_call"] == 15
    assert resumed.per_position.tolist() == whole.per_position.tolist()
    assert resumed.metrics["loss_curve"] == whole.metrics["loss_curve"]
    assert resumed.convergence == whole.convergence and whole.convergence["half_steps"] == 12  # its branch too
    # a finished run is loaded, not trained again
    calls = []
    again = train.train(cfg, tmp_path / "cut", progress=False, callback=lambda *a: calls.append(a))
    assert calls == [] and again.metrics == resumed.metrics


def test_checkpoint_holds_plain_state_and_both_configs(tmp_path):
    cfg = small(steps=10)
    train.train(cfg, tmp_path, progress=False)
    ckpt = runs.load_checkpoint(tmp_path)
    assert ckpt["step"] == 10 and ckpt["config"]["arch"] == "gpt2" and ckpt["model_config"]["d_model"] == 64
    assert isinstance(ckpt["rng"]["torch"], torch.Tensor) and ckpt["scheduler"]["last_epoch"] == 10
    model = runs.load_model(tmp_path)
    assert all(torch.equal(v, ckpt["model"][k]) for k, v in model.state_dict().items())
    info = json.loads((tmp_path / "config.json").read_text())
    assert info["config"]["seq_len"] == 16 and info["kernel"] == "sdpa"


def test_missing_corrupt_or_foreign_checkpoints_are_errors(tmp_path):
    cfg = small(steps=20)
    with pytest.raises(Interrupt):
        train.train(cfg, tmp_path, progress=False, callback=stop_at(12))
    (tmp_path / "checkpoint.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(runs.CheckpointError, match="unreadable"):
        train.train(cfg, tmp_path, progress=False)
    (tmp_path / "checkpoint.pt").unlink()
    with pytest.raises(runs.CheckpointError, match="no checkpoint.pt"):
        train.train(cfg, tmp_path, progress=False)
    other = tmp_path / "other"
    with pytest.raises(Interrupt):
        train.train(cfg, other, progress=False, callback=stop_at(1))
    with pytest.raises(runs.CheckpointError, match=r"holds another run \(lr = 0.003, not 0.001\)"):
        train.train(small(steps=20, lr=1e-3), other, progress=False)


@pytest.mark.slow
def test_a_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path):
    def poison(step, loss, model):
        if step == 13:
            with torch.no_grad():
                next(model.head.parameters()).fill_(float("nan"))

    with pytest.raises(train.TrainingDiverged, match="not finite at step 14.*last good checkpoint \\(step 10\\)"):
        train.train(small(steps=30), tmp_path, progress=False, callback=poison)
    ckpt = runs.load_checkpoint(tmp_path)
    assert ckpt["step"] == 10 and all(torch.isfinite(v).all() for v in ckpt["model"].values())
    assert not (tmp_path / "metrics.json").exists()


@pytest.mark.parametrize("values,message", [
    ({"arch": "rwkv"}, "arch = 'rwkv' is not allowed: use one of 'gpt2', 'swa', 'mamba', 'mamba2'"),
    ({"arch": "gpt2", "size": "1.4b"}, "size = '1.4b' is not a size of gpt2: use one of 'tiny', 'small', '125m'"),
    ({"layers": 2, "seq_len": 64}, "seq_len = 64 is longer than the Gaussian process of layers = 2"),
    ({"warmup": 50, "steps": 10}, "warmup = 50 is more than steps = 10"),
    ({"device": "tpu"}, "device = 'tpu' is not allowed: use one of 'auto', 'cpu', 'cuda'"),
    ({"lr": 0}, "lr = 0 is not allowed"),
    ({"dtype": "float16"}, "dtype = 'float16' is not allowed: use one of 'float32', 'bfloat16'"),
    ({"n_layers": 2}, "unknown parameter 'n_layers'"),
])
def test_bad_parameters_raise(values, message):
    with pytest.raises(ParameterError) as error:
        validate(config.TrainConfig, **values)
    assert str(error.value).startswith(message)


def test_seq_len_and_default_folder_follow_the_config():
    assert validate(config.TrainConfig, layers=4).seq_len == 256
    assert validate(config.TrainConfig, task="text").seq_len == 256
    a, b = validate(config.TrainConfig, layers=3), validate(config.TrainConfig, layers=3, seq_len=64)
    assert a == b and train.default_run_dir(a) == train.default_run_dir(b)
    assert train.default_run_dir(a).name.startswith("gpt2-tiny-gaussian-L64-")
    assert train.default_run_dir(a) != train.default_run_dir(validate(config.TrainConfig, layers=3, seed=1))
    # fields a task does not use do not make another run
    text = validate(config.TrainConfig, task="text")
    assert train.default_run_dir(text) == train.default_run_dir(validate(config.TrainConfig, task="text", channels=3))


def test_text_task_trains_on_held_out_split(tmp_path):
    cfg = small(task="text", corpus="wiki", seq_len=32, steps=30, lr=1e-2)
    task = tasks.TextTask(cfg, torch.device("cpu"))
    batch = task.sample(0, 4)
    assert batch.inputs.shape == batch.targets.shape == (4, 32) and bool((batch.inputs[:, 0] == task.bos).all())
    assert torch.equal(batch.inputs[:, 1:], batch.targets[:, :-1])
    run = train.train(cfg, tmp_path, progress=False)
    losses = runs.load_checkpoint(tmp_path)["losses"].numpy()
    assert run.metrics["metric"] == "nll" and losses[-5:].mean() < losses[:3].mean() - 1.0
    assert run.average < np.log(task.vocab_size)  # better than uniform over the vocabulary


@pytest.mark.slow
def test_two_process_ddp_matches_one_process(tmp_path):
    cfg = small(arch="gpt2", steps=12, checkpoint_every=5)
    single = train.train(cfg, tmp_path / "one", progress=False)
    script = tmp_path / "ddp.py"
    script.write_text("import sys\nfrom l2m import config, train\nfrom l2m.params import validate\n"
                      f"train.train(validate(config.TrainConfig, **{SMALL | {'steps': 12, 'checkpoint_every': 5}!r}), "
                      f"{str(tmp_path / 'two')!r}, progress=False)\n")
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29517",
                    str(script)], check=True, env=env, capture_output=True, timeout=300)
    ddp = runs.load_run(tmp_path / "two")
    assert ddp.metrics["world_size"] == 2
    assert np.allclose(ddp.per_position, single.per_position, rtol=1e-4)


@pytest.mark.gpu
def test_bf16_on_cuda_lowers_the_loss(tmp_path):
    run = train.train(small(arch="mamba2", device="cuda", dtype="bfloat16", steps=60, lr=1e-2), tmp_path,
                      progress=False)
    losses = runs.load_checkpoint(tmp_path)["losses"].numpy()
    assert run.metrics["device"].startswith("cuda") and losses[-10:].mean() < 0.7 * losses[:5].mean()


def test_command_line_run(tmp_path, capsys):
    train.main(["layers=2", "steps=6", "warmup=1", "batch=4", "lr=3e-3", "eval_sequences=8", "device=cpu",
                f"run_dir={tmp_path}"])
    assert runs.load_run(tmp_path).config.lr == 0.003
    assert capsys.readouterr().out.startswith(f"{tmp_path}: average KL ")


def test_chapter_04_bad_arch_is_one_clear_line(tmp_path):
    import papermill

    book = Path(__file__).resolve().parents[1] / "book"
    with pytest.raises(papermill.PapermillExecutionError) as error:
        papermill.execute_notebook(str(book / "04_train.ipynb"), str(tmp_path / "out.ipynb"),
                                   parameters={"arch": "rwkv"}, progress_bar=False, cwd=str(book))
    assert error.value.traceback == ["ParameterError: arch = 'rwkv' is not allowed: use one of 'gpt2', 'swa', "
                                     "'mamba', 'mamba2' (model family)"]


@pytest.mark.parametrize("arch", ["gpt2", "mamba"])
def test_a_warm_run_starts_from_the_shorter_run_with_its_position_table_tiled(arch, tmp_path):
    short = train.train(small(arch=arch, layers=1, steps=12), tmp_path / "short", progress=False)  # L = 4
    source = runs.load_checkpoint(short.folder)["model"]
    cfg = small(arch=arch, layers=2, steps=12, init_from=str(short.folder))  # L = 16
    seen = []
    warm = train.train(cfg, tmp_path / "warm", progress=False,
                       callback=lambda s, loss, model: seen.append(model.state_dict()) if s == 1 else None)
    start = runs.load_payload(tmp_path / "warm" / "checkpoint.pt")  # the last one; step 0's was replaced
    first = torch.load(tmp_path / "warm" / train.BRANCH, weights_only=True)  # exists: the run has a half budget
    assert first and start["config"]["init_from"] == str(short.folder)
    # step 0 is the source: rebuild it the way train does and compare every tensor
    model = train.build(cfg, tasks.make_task(cfg, torch.device("cpu")))
    train.warm_start(model, source)
    table = "backbone.wpe.weight" if arch == "gpt2" else "position.weight"
    for name, value in model.state_dict().items():
        expected = source[name].repeat(4, 1) if name == table else source[name]
        assert torch.equal(value, expected), name
    assert model.state_dict()[table].shape[0] == 16 and seen  # and the run trained from there
    assert warm.average < float(np.mean(short.per_position)) * 50  # a finite, trained KL


def test_a_warm_run_is_keyed_by_its_source_and_refuses_another_model(tmp_path):
    short = train.train(small(arch="mamba", layers=1, steps=12), tmp_path / "short", progress=False)
    assert train.default_run_dir(small(arch="mamba", init_from=short.folder.name)) != train.default_run_dir(small(arch="mamba"))
    with pytest.raises(train.NotWarmStartable, match="not a finished run"):
        train.train(small(arch="mamba", init_from=str(tmp_path / "nothing")), tmp_path / "a", progress=False)
    with pytest.raises(train.NotWarmStartable, match="shorter length"):  # d_state differs: another model
        train.train(small(arch="mamba", d_state=3, init_from=str(short.folder)), tmp_path / "b", progress=False)
    with pytest.raises(train.NotWarmStartable, match="another model"):  # gpt2 weights into a mamba
        gpt = train.train(small(layers=1, steps=12), tmp_path / "gpt", progress=False)
        train.train(small(arch="mamba", init_from=str(gpt.folder)), tmp_path / "c", progress=False)


def test_a_widened_mamba_state_starts_as_the_very_function_of_the_source(tmp_path):
    """d_state grown from 2 to 5: the source's states stay, the new ones get C = 0 and add nothing to the output."""
    source_cfg = small(arch="mamba", n_layer=1, d_model=16, expand=2, d_conv=2, d_state=2, steps=12)
    source = train.train(source_cfg, tmp_path / "source", progress=False)
    weights = runs.load_checkpoint(source.folder)["model"]
    wide_cfg = small(arch="mamba", n_layer=1, d_model=16, expand=2, d_conv=2, d_state=5, init_from=str(source.folder))
    task = tasks.make_task(wide_cfg, torch.device("cpu"))
    wide, narrow = train.build(wide_cfg, task), train.build(source_cfg, task)
    fresh = {k: v.clone() for k, v in wide.state_dict().items()}
    train.warm_start(wide, weights)
    narrow.load_state_dict(weights)
    batch = task.sample(1, 4, "eval")
    with torch.no_grad():
        torch.testing.assert_close(wide(batch.inputs), narrow(batch.inputs), rtol=1e-5, atol=1e-6)
    a_log, x_proj = "backbone.layers.0.mixer.A_log", "backbone.layers.0.mixer.x_proj.weight"
    assert torch.equal(wide.state_dict()[a_log][:, :2], weights[a_log])
    assert torch.equal(wide.state_dict()[a_log][:, 2:], fresh[a_log][:, 2:])  # the new states' own initial decay
    rank = weights[x_proj].shape[0] - 4
    rows = wide.state_dict()[x_proj]
    assert torch.equal(rows[: rank + 2], weights[x_proj][: rank + 2])  # Δ and the old B
    assert torch.equal(rows[rank + 5 : rank + 7], weights[x_proj][rank + 2 :])  # the old C
    assert not rows[rank + 7 :].any() and rows[rank + 2 : rank + 5].any()  # new C = 0, new B initialised
    trained = train.train(wide_cfg, tmp_path / "wide", progress=False)
    assert np.isfinite(trained.average)


def test_an_interrupted_warm_run_resumes_to_the_same_metrics(tmp_path):
    short = train.train(small(arch="mamba", layers=1, steps=12), tmp_path / "short", progress=False)
    cfg = small(arch="mamba", layers=2, steps=25, init_from=str(short.folder))
    whole = train.train(cfg, tmp_path / "whole", progress=False)
    with pytest.raises(Interrupt):
        train.train(cfg, tmp_path / "cut", progress=False, callback=stop_at(17))  # checkpoints at 0, 10
    resumed = train.train(cfg, tmp_path / "cut", progress=False)
    assert resumed.metrics["steps_this_call"] == 15
    assert resumed.per_position.tolist() == whole.per_position.tolist() and resumed.convergence == whole.convergence
