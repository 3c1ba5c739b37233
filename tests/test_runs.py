"""A run folder's metrics read through named properties, the same values as the stored JSON."""
import json

import numpy as np
import pytest

from l2m import runs, state, train


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    cfg = train.TrainConfig(arch="mamba2", layers=2, seq_len=16, channels=3, steps=4, warmup=1, batch=4,
                            eval_sequences=8, device="cpu")
    return train.train(cfg, tmp_path_factory.mktemp("run"), progress=False)


def test_properties_read_the_stored_metrics(run):
    stored = json.loads((run.folder / "metrics.json").read_text())
    assert run.metric == stored["metric"] == "kl" and run.train_s == stored["train_s"] > 0
    assert run.per_position_se.shape == run.per_position.shape == (16,) and np.all(run.per_position_se >= 0)
    assert run.per_position_se.tolist() == stored["per_position_se"]
    assert run.model_config.to_dict() == stored["model_config"]
    assert run.history_state == runs.StoredState(**stored["history_state"])
    assert run.history_state.at_seq_len == state.history_state(run.model_config).at(16) > 0


def test_loaded_run_equals_the_returned_one(run):
    again = runs.load_run(run.folder)
    assert again.metrics == run.metrics and again.history_state == run.history_state


def test_training_code_digest_adds_the_text_modules():
    from l2m import tasks

    assert train.training_code_digest("gaussian") != train.training_code_digest("text")
    assert train.training_code_digest("gaussian") == train.cache.source_digest(
        [train.models, train.config, train, tasks, train.gaussian, train.convergence])


def test_a_runs_identity_names_n_head_only_where_it_is_set_on_an_attention_model():
    # n_head 0 keeps the size's heads: leaving it out keeps the identity of every run made before n_head existed
    plain = runs.identity(train.TrainConfig(arch="gpt2", d_model=16))
    assert "n_head" not in plain and "d_model" in plain
    assert runs.identity(train.TrainConfig(arch="gpt2", d_model=16, n_head=1)) == plain | {"n_head": 1}
    assert runs.identity(train.TrainConfig(arch="swa", n_head=2))["n_head"] == 2
    assert "n_head" not in runs.identity(train.TrainConfig(arch="mamba", n_head=2))  # no attention: not its knob
