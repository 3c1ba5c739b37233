"""l2m.kl_length: GPT2's steadiness and the SSMs' rise are decided on converged runs only, and each can fail."""
import pandas as pd

from l2m import claims, kl_length


def rows(kls, relative_se=0.05, converged=True, label="run"):
    """Runs at L = 16, 64, 256 with average KL ``kls``, each known to ``relative_se`` of itself."""
    return pd.DataFrame({"label": label, "L": [16, 64, 256][: len(kls)], "average_kl": kls,
                         "kl_se": [relative_se * k for k in kls],
                         "converged": converged, "convergence": "converged" if converged else "not converged"})


def test_gpt2_steady_within_the_factor_and_not_beyond_it():
    assert kl_length.gpt2_steady(rows([0.004, 0.005, 0.006])).verdict == claims.HOLDS
    assert kl_length.gpt2_steady(rows([0.0001, 0.0003, 0.007])).verdict == claims.FAILS  # 70×: a constructed failure
    assert kl_length.gpt2_steady(rows([0.004, 0.005, 0.006], converged=False)).verdict == claims.UNRESOLVED
    assert kl_length.gpt2_steady(rows([0.002, 0.004, 0.0059], relative_se=0.2)).verdict == claims.UNRESOLVED  # 3 ± 0.8


def test_each_fixed_ssm_must_rise():
    up, flat = rows([0.03, 0.06, 0.09], label="a"), rows([0.06, 0.05, 0.05], label="b")
    assert kl_length.ssms_rise({"a": up}).verdict == claims.HOLDS
    assert kl_length.ssms_rise({"a": up, "b": flat}).verdict == claims.FAILS  # one series that does not rise
    assert kl_length.ssms_rise({"a": rows([0.03, 0.06, 0.09], converged=False)}).verdict == claims.UNRESOLVED
    assert kl_length.ssms_rise({}).verdict == claims.UNRESOLVED
