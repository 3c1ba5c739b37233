"""Over-provisioning: a transformer's history state against what the data needs (chapter 05; NeurIPS version, Sec. 7).

A transformer's KV cache grows like L (2·n_layer·d_model numbers per past token, :mod:`l2m.state`), while the data's
bipartite MI, and with it the state the L2M condition asks for, grows like L^β with β < 1. The ratio of the two
grows like L^{1−β}: the transformer keeps more than it needs, by a factor that grows with L, which the paper reads as
a sub-linear target for new architectures. This module forms those ratios from chapter 05's state table.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .fit import PowerLawFit, fit_power_law


def overprovision_table(seq_len: np.ndarray, kv_cache: np.ndarray, needs: dict[str, np.ndarray]) -> pd.DataFrame:
    """The KV cache divided by each need, at every L: ``"KV cache / <need>"`` columns, indexed by L.

    ``kv_cache`` (numbers) and every need (numbers, or nats for an MI) are arrays over ``seq_len``; a need that
    is not positive gives NaN (no ratio).
    """
    seq_len, kv = np.asarray(seq_len, dtype=float), np.asarray(kv_cache, dtype=float)
    out = pd.DataFrame(index=pd.Index(seq_len.astype(int), name="L"))
    for name, need in needs.items():
        need = np.asarray(need, dtype=float)
        out[f"KV cache / {name}"] = np.where(need > 0, kv / np.where(need > 0, need, 1.0), np.nan)
    return out


def ratio_exponents(table: pd.DataFrame, min_seq_len: int = 16) -> dict[str, PowerLawFit]:
    """A power law fitted to each ratio of :func:`overprovision_table` over L ≥ ``min_seq_len``: its exponent is
    1 − β of that need (the first lengths, where the tree has one or two layers, are left out)."""
    fits = {}
    for column in table.columns:
        keep = (table.index >= min_seq_len) & np.isfinite(table[column].to_numpy())
        if keep.sum() >= 2:
            fits[column] = fit_power_law(table.index[keep].to_numpy(dtype=float), table[column].to_numpy()[keep])
    return fits


def claim_rows(fits: dict[str, PowerLawFit]) -> list:
    """One row per need: the KV cache over-provisions more as L grows (the ratio's exponent 1 − β is above 0)."""
    from . import claims

    return [claims.Claim(f"a transformer's state grows faster than the data needs: {name} rises with L",
                         "transformers over-provision: state ∝ L against L^β, β < 1 (Sec. 7)",
                         f"exponent of the ratio {f.exponent:.3f} ± {f.exponent_stderr:.3f}",
                         claims.exceeds(f.exponent, f.exponent_stderr, 0.0),
                         "exponent above 0 by more than 2 least-squares sd (no margin: any growth is the claim)",
                         "the need's exponent is this build's (exact for the Gaussian data, fitted for text)")
            for name, f in fits.items()]
