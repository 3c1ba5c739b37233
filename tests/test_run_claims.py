"""l2m.run_claims: chapter 04's checks of one run, each with a three-way verdict that a wrong result fails."""
from types import SimpleNamespace

import numpy as np
import pytest

from l2m import claims, paper, run_claims

L = 64
REFERENCES = {"marginal N(0, 1)": np.full(L, 0.2), run_claims.POSITION_BLIND: np.full(L, 0.05),
              run_claims.WINDOW_16: np.full(L, 0.02)}


def cfg(arch="gpt2", task="gaussian", **kw):
    return SimpleNamespace(**({"arch": arch, "size": "tiny", "task": task, "seq_len": L, "steps": 100, "batch": 8,
                               "corpus": "books"} | kw))


def verdicts(config, per_position, se=0.001):
    rows = run_claims.chapter_claims(config, per_position, np.full(len(per_position), se), REFERENCES, "cpu")
    return [r.verdict for r in rows]


def test_the_sd_bounds_hold_for_any_correlation():
    assert run_claims.mean_with_sd(np.array([1.0, 3.0]), np.array([0.1, 0.3])) == (2.0, pytest.approx(0.2))
    r, sd = run_claims.ratio_with_sd(4.0, 0.4, 2.0, 0.1)
    assert r == 2.0 and sd == pytest.approx(2.0 * (0.1 + 0.05))


def test_a_good_flat_transformer_holds_everything():
    assert verdicts(cfg(), np.full(L, 0.01)) == [claims.HOLDS] * 4


def test_wrong_results_do_not_hold():
    assert verdicts(cfg(), np.full(L, 0.3)) == [claims.FAILS] * 3 + [claims.HOLDS]  # learned nothing (but flat)
    rising = np.linspace(0.001, 0.019, L)  # last quarter / first quarter ≈ 5.5: not flat
    assert verdicts(cfg(), rising, se=1e-4)[-1] == claims.FAILS
    assert verdicts(cfg(arch="mamba"), rising, se=1e-4)[-1] == claims.HOLDS  # an SSM's KL that drifts up
    assert verdicts(cfg(arch="mamba"), np.full(L, 0.01))[-1] == claims.FAILS
    assert verdicts(cfg(), np.full(L, 0.01), se=0.5)[0] == claims.UNRESOLVED  # too noisy to tell


def test_table_f1_is_compared_only_where_comparable():
    text = dict(task="text", size="125m", seq_len=4096, corpus="pg19")
    refs = {"uniform over the vocabulary": np.log(50000)}
    near = run_claims.chapter_claims(cfg(**text), np.full(8, paper.TABLE_F1["gpt2-125m"] + 0.02), np.full(8, 0.01), refs, "cuda")
    far = run_claims.chapter_claims(cfg(**text), np.full(8, 3.3), np.full(8, 0.01), refs, "cuda")
    other = run_claims.chapter_claims(cfg(**(text | {"corpus": "books"})), np.full(8, 2.98), np.full(8, 0.01), refs, "cuda")
    assert (near[-1].verdict, far[-1].verdict, other[-1].verdict) == (claims.HOLDS, claims.FAILS, claims.UNRESOLVED)
