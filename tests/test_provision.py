"""l2m.provision: the KV cache over what the data needs (chapter 05; NeurIPS version, Sec. 7)."""
import numpy as np
import pytest

from l2m import claims, provision


def test_ratio_exponent_is_one_minus_beta():
    L = 4.0 ** np.arange(1, 7)
    kv = 96 * L / 2  # a KV cache of 96 numbers per past token, at the split
    table = provision.overprovision_table(L, kv, {"need": 3 * L**0.79, "linear need": 0.5 * L})
    fits = provision.ratio_exponents(table)
    # exact power laws: the least-squares slope is exact to float64 rounding
    assert fits["KV cache / need"].exponent == pytest.approx(1 - 0.79, abs=1e-12)
    assert fits["KV cache / linear need"].exponent == pytest.approx(0.0, abs=1e-12)
    assert table.loc[16, "KV cache / need"] == pytest.approx(96 * 8 / (3 * 16**0.79))


def test_a_need_that_is_not_positive_gives_no_ratio():
    table = provision.overprovision_table([4, 16], [10, 20], {"need": [0.0, 2.0]})
    assert np.isnan(table.iloc[0, 0]) and table.iloc[1, 0] == 10.0


def test_claim_holds_for_a_sublinear_need_and_fails_for_a_faster_one():
    L = 4.0 ** np.arange(1, 7)
    noise = 1 + 0.01 * np.array([1, -1, 1, -1, 1, -1])  # so that the fits have a least-squares sd
    table = provision.overprovision_table(L, 48 * L, {"sub-linear": L**0.7 * noise, "super-linear": L**1.2 * noise})
    rows = {r.claim.split(": ")[1]: r.verdict for r in provision.claim_rows(provision.ratio_exponents(table))}
    assert rows["KV cache / sub-linear rises with L"] == claims.HOLDS
    assert rows["KV cache / super-linear rises with L"] == claims.FAILS
