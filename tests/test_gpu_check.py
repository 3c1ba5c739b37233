"""The prepared GPU check (l2m.gpucheck): its no-CUDA path, and its verdicts on fabricated results."""
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from l2m import gpucheck

ROOT = Path(__file__).resolve().parents[1]


def test_without_cuda_make_gpu_check_prints_one_line_and_exits_0(tmp_path):
    env = os.environ | {"CUDA_VISIBLE_DEVICES": ""}  # hides any GPU, so this holds on a CUDA machine too
    done = subprocess.run(["make", "-s", "--no-print-directory", "gpu-check", f"GPU_PYTHON={sys.executable}",
                           f"OUT={tmp_path / 'out'}"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.splitlines()) == 1 and "no CUDA" in done.stdout
    assert not (tmp_path / "out").exists()  # nothing written, nothing installed


def test_a_disagreement_is_reported_as_disagreed_and_verdicts_end_the_report():
    parts = [gpucheck.not_run("mamba-ssm kernels build", "opt-in --build-kernels"),
             {"part": "training", "checks": [gpucheck.check("train gpt2 float32", True, "KL 0.1 vs CPU 0.1"),
                                             gpucheck.check("train mamba bfloat16", False, "KL 0.3 vs CPU 0.1")]},
             {"part": "pytest -m gpu", "checks": [{"path": "vLLM scoring", "not_run": "not installed"}]}]
    text = gpucheck.render({"gpu": "H200"}, parts)
    assert text.splitlines()[-4:] == [
        "mamba-ssm kernels build  not run (opt-in --build-kernels)",
        "train gpt2 float32       ran and agreed: KL 0.1 vs CPU 0.1",
        "train mamba bfloat16     ran and disagreed: KL 0.3 vs CPU 0.1",
        "vLLM scoring             not run (not installed)"]


def test_training_losses_outside_the_tolerance_disagree(tmp_path, monkeypatch):
    (tmp_path / "training.json").write_text(json.dumps({"settings": gpucheck.TRAIN, "cpu_float32": {
        f"{arch}/0": {"average": 0.1} for arch in gpucheck.ARCHS}}))
    gpu = {"gpt2": 0.104, "mamba": 0.12, "mamba2": 0.097}  # +4 %, +20 %, −3 %
    monkeypatch.setattr(gpucheck, "REFERENCE", tmp_path)
    monkeypatch.setattr(gpucheck, "train_losses", lambda device, dtype, archs, settings, folder: {
        f"{a}/0": {"average": gpu[a], "steps_per_s": 50.0, "kernel": "torch"} for a in archs})
    agree = {c["path"]: c["agree"] for c in gpucheck.part_training(tmp_path)["checks"]}
    assert agree == {"train gpt2 float32": True, "train mamba float32": False, "train mamba2 float32": True,
                     "train gpt2 bfloat16": True, "train mamba bfloat16": False, "train mamba2 bfloat16": True}


def test_junit_results_become_checks(tmp_path):
    (tmp_path / "r.xml").write_text(
        '<testsuites><testsuite><testcase classname="tests.test_models" name="test_a" file="tests/test_models.py"/>'
        '<testcase classname="tests.test_lm" name="test_b"><failure message="assert 0.5 &lt; 0.02"/></testcase>'
        '<testcase classname="tests.test_lm" name="test_c"><skipped message="needs a CUDA GPU"/></testcase>'
        '<testcase classname="tests.test_lm" name="test_d"><error message="FetchError: offline"/></testcase>'
        '</testsuite></testsuites>')
    rows = dict(gpucheck.verdicts([{"part": "pytest -m gpu", "checks": gpucheck.junit_checks(tmp_path / "r.xml")}]))
    assert rows == {"test_models::test_a": "ran and agreed: passed",
                    "test_lm::test_b": "ran and disagreed: assert 0.5 < 0.02",
                    "test_lm::test_c": "not run (skipped: needs a CUDA GPU)",
                    "test_lm::test_d": "not run (setup error: FetchError: offline)"}


def test_a_wheel_is_installed_by_unzipping_it(tmp_path):
    wheel = tmp_path / "demo-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("demo/__init__.py", "VALUE = 7\n")
        zf.writestr("demo-1.0.data/scripts/demo-tool", "#!/bin/sh\necho 7\n")
        zf.writestr("demo-1.0.dist-info/METADATA", "Name: demo\nVersion: 1.0\n")
    gpucheck.unzip_wheel(wheel, tmp_path / "site")
    assert (tmp_path / "site" / "demo" / "__init__.py").read_text() == "VALUE = 7\n"
    assert os.access(tmp_path / "site" / "bin" / "demo-tool", os.X_OK)
    assert not list((tmp_path / "site").glob("*.data"))


def test_the_carried_references_are_small_and_justify_the_tolerances():
    scores = np.load(gpucheck.REFERENCE / "scores.npz")
    assert scores["tokens"].shape == scores["log_probs"].shape == (64, 64)
    assert np.all(scores["log_probs"] <= 0) and np.all(np.isfinite(scores["log_probs"]))
    assert sum(f.stat().st_size for f in gpucheck.REFERENCE.iterdir()) < 1 << 20
    # the CPU's own bf16-vs-fp32 difference must fit inside the bf16 bounds the GPU is held to
    _, bound, mean = gpucheck.LOGPROB_TOL["bfloat16"]
    assert scores["cpu_bf16_quantile_diff"] < bound and scores["cpu_bf16_mean_diff"] < mean
    training = json.loads((gpucheck.REFERENCE / "training.json").read_text())
    assert training["settings"] == gpucheck.TRAIN
    assert list(training["cpu_float32"]) == [f"{a}/{seed}" for a in gpucheck.ARCHS for seed in (0, 1, 2)]


def test_the_loss_tolerance_widens_to_the_spread_over_cpu_seeds():
    assert gpucheck.loss_tolerance("float32", [0.1, 0.101, 0.099]) == gpucheck.LOSS_TOL["float32"]
    assert gpucheck.loss_tolerance("bfloat16", [0.1, 0.101, 0.099]) == gpucheck.LOSS_TOL["bfloat16"]
    assert gpucheck.loss_tolerance("float32", [0.1, 0.09, 0.11]) == pytest.approx(0.3)  # 1.5 × 20 %
