"""l2m.convergence: the criterion tells a finished learning curve from an unfinished one, and the half-budget run
that a run trains as a branch of itself is exactly the run of half the steps."""
import dataclasses

import numpy as np
import pytest
import torch

from l2m import config, convergence, train
from l2m.params import validate


def final_losses(budget, rng, n=256, floor=0.05, amplitude=2.0, exponent=1.0, noise=0.01):
    """Per-sequence evaluation losses of a run of ``budget`` steps on a synthetic learning curve
    KL(N) = floor + amplitude · N^−exponent; the same sequences (a shared offset each) for every budget."""
    offsets = rng.normal(0, noise, n)
    return floor + amplitude * budget**-exponent + offsets


@pytest.mark.parametrize("exponent", [0.5, 1.0])
def test_the_criterion_tells_a_converged_curve_from_an_unconverged_one(exponent):
    rng = np.random.default_rng(0)
    for budget, expected in ((100, convergence.NOT_CONVERGED), (10**7, convergence.CONVERGED)):
        shared = np.random.default_rng(1)  # paired: the same evaluation sequences for both budgets
        full = final_losses(budget, shared, exponent=exponent)
        shared = np.random.default_rng(1)
        half = final_losses(budget // 2, shared, exponent=exponent) + rng.normal(0, 1e-4, 256)
        result = convergence.judge(full, half, budget, "kl", marginal=0.2)
        assert result.verdict == expected, (budget, result)
    # the drop is the learning curve's own: amplitude · ((N/2)^−γ − N^−γ)
    full, half = final_losses(1000, np.random.default_rng(2)), final_losses(500, np.random.default_rng(2))
    result = convergence.judge(full, half, 1000, "kl")
    assert result.drop == pytest.approx(2.0 * (500**-1.0 - 1000**-1.0), rel=1e-9)
    assert result.drop_se == pytest.approx(0, abs=1e-12)


def test_a_run_stuck_near_the_marginal_is_not_called_converged():
    # a run that stopped improving at 0.18 nats against the marginal's 0.21 (chapter 05's quick GPT2 at 200 steps)
    stuck = convergence.judge(np.full(64, 0.18) + np.linspace(0, 0.01, 64), np.full(64, 0.176), 200, "kl", marginal=0.21)
    assert stuck.drop < 0 and stuck.verdict == convergence.NOT_RESOLVED
    learned = convergence.judge(np.full(64, 0.05) + np.linspace(0, 0.01, 64), np.full(64, 0.05), 200, "kl", marginal=0.21)
    assert learned.verdict == convergence.CONVERGED


def test_the_verdict_is_three_way_and_the_tolerance_is_stated():
    # tolerance: 10 % of the loss plus 1 % of the marginal's KL
    assert convergence.tolerance(0.05, "kl", marginal=0.2) == pytest.approx(0.005 + 0.002)
    assert convergence.tolerance(3.0, "nll") == pytest.approx(0.03)
    assert convergence.verdict(0.001, 0.001, 0.005) == convergence.CONVERGED
    assert convergence.verdict(0.02, 0.001, 0.005) == convergence.NOT_CONVERGED
    assert convergence.verdict(0.005, 0.003, 0.005) == convergence.NOT_RESOLVED  # the noise straddles it
    assert convergence.verdict(-0.01, 0.001, 0.005) == convergence.CONVERGED  # the half run was better: noise


def test_the_half_budget_branch_starts_its_decay_after_the_warmup():
    assert convergence.half_steps(1000) == 500 and convergence.decay_steps(500) == 100
    assert convergence.branch_step(1000) == 400  # 0.4 N: where the half run leaves the full one
    assert convergence.can_check(1000, 100) and not convergence.can_check(1000, 401)


def test_the_wsd_schedule_is_warmup_constant_linear_decay():
    cfg = validate(config.TrainConfig, steps=100, warmup=10, device="cpu")
    opt, schedule = train.optimizer_and_schedule(torch.nn.Linear(2, 2), cfg)
    factors = []
    for _ in range(cfg.steps):
        factors.append(opt.param_groups[0]["lr"] / cfg.lr)
        opt.step()
        schedule.step()
    expected = [s / 10 if s < 10 else 1.0 if s < 80 else 1 - (s - 80) / 20 for s in range(100)]
    assert np.allclose(factors, expected, atol=1e-12)


@pytest.mark.slow
def test_the_branch_is_the_run_of_half_the_steps(tmp_path):
    cfg = validate(config.TrainConfig, arch="mamba", layers=2, channels=2, n_layer=1, d_model=8, expand=2, d_conv=2,
                   d_state=1, steps=60, batch=8, lr=1e-2, warmup=5, eval_sequences=16, device="cpu")
    full = train.train(cfg, tmp_path / "full", progress=False)
    half = train.train(dataclasses.replace(cfg, steps=30), tmp_path / "half", progress=False)
    # on the CPU both follow the same arithmetic: equal to the last bit
    assert full.convergence["half_average"] == half.average
    assert full.convergence["average"] == full.average and full.convergence["steps"] == 60
    assert full.convergence["verdict"] in convergence.VERDICTS
    cosine = train.train(dataclasses.replace(cfg, steps=10, schedule="cosine"), tmp_path / "cosine", progress=False)
    assert cosine.convergence == {"verdict": "not measured", "why": "cosine schedule"} and not cosine.converged
