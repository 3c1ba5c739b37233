"""Chapter 02's claims table: each row a test of the two-point measurements, with three verdicts (:mod:`l2m.claims`).

Every measured number here rests on which documents happen to be in the corpus, so every verdict is redrawn on
the document-bootstrap replicates of :func:`l2m.twopoint.measure` (:func:`l2m.claims.stability`): a verdict that
fewer than 90 % of the replicates reproduce is "not resolved". The margin of an exponent is the spread of the
two-point exponents the paper itself reports across its corpora (Appx. B: PG19 0.91, Wikipedia 0.94): a stand-in
corpus is not asked to agree with the paper better than the paper's own two corpora agree with each other.
"""
from __future__ import annotations

import math

import numpy as np

from . import claims, paper
from .claims import Claim
from .decay import FIT_SIGMA, PAPER_COUNTERPART, Difference, ModelResult, bootstrap_sd
from .fit import fit_power_law_with_offset

MODEL_WORDS = {"offset": "A·d^−α + C on raw − corpus-wide shuffle",
               "order": "A·d^−α on raw − within-document shuffle",
               "range": "A·d^−α on raw − within-document shuffle, d ≥ {d_min}"}


def model_words(model: str, result: ModelResult) -> str:
    """The model in words, with its range of distances."""
    return MODEL_WORDS[model].format(d_min=result.d_min)
DOMINATES = 0.5  # "the bias dominates": more than half of the raw estimate, the claim's own words
COUNTER_TOLERANCE = 0.02  # nats; ≥ 2× the Grassberger / plug-in correction (V − 1)/2N ≤ 0.008 of 4000 blocks, V = 64


def alpha_margin() -> float:
    """The spread of the paper's two-point exponents across its corpora (0.94 − 0.91 = 0.03)."""
    exponents = [f.exponent for f in paper.TWO_POINT.values()]
    return float(max(exponents) - min(exponents))


def recentred(measured: float | np.ndarray, replicates: np.ndarray) -> np.ndarray:
    """The redraws of a measurement: the measured value plus each replicate's deviation from the replicates' mean.

    A replicate that holds a document twice shifts every Î (the estimator's bias depends on how the counts spread),
    so the replicates' own mean is off the measured value; their spread is what describes a new draw."""
    replicates = np.asarray(replicates, dtype=float)
    return measured + replicates - np.nanmean(replicates, axis=0)


def _redrawn(verdict: str, redraws: list[str]) -> tuple[str, float | None]:
    return claims.stability(verdict, redraws) if redraws else (verdict, None)


def decay_claim(label: str, model: str, result: ModelResult) -> Claim:
    """"Two-point MI decays as a power law": the stated model fits every point within FIT_SIGMA errors, a constant
    does not (the curve decays beyond its errors), and α > 0 by 2 bootstrap sd. A model that misses a point is not
    the law the data follow: "does not hold"; a curve a constant also fits is "not resolved"."""
    fit, sd = result.fit, result.alpha_sd
    decays = result.flat > FIT_SIGMA

    def verdict_of(alpha: float) -> str:
        if not fit.fits:
            return claims.FAILS
        return claims.exceeds(alpha, sd, 0.0) if decays else claims.UNRESOLVED

    verdict, share = _redrawn(verdict_of(fit.alpha), [verdict_of(a) for a in recentred(fit.alpha, result.alphas)
                                                      if math.isfinite(a)])
    ref = paper.TWO_POINT["pg19"]
    return Claim("two-point MI decays as a power law once the bias is removed, I(d) ≈ A·d^−α + C",
                 f"{ref.label('d', decay=True)} + C (PG19)",
                 f"α = {fit.alpha:.3f} ± {sd:.3f}, largest residual {fit.max_residual:.1f}σ ({label}; {model_words(model, result)})",
                 verdict, f"the model fits every point within {FIT_SIGMA:.0f}σ (document-level σ), a constant does not, "
                 "and α > 0 by 2 sd; margin 0: the claim is a decay of this form, nothing more",
                 "a small corpus: at large d only a few documents are long enough", share)


def exponent_claim(corpus: str, label: str, model: str, result: ModelResult) -> Claim:
    """"On PG19 / Wikipedia the exponent is α = …": an equivalence test within :func:`alpha_margin`."""
    ref = paper.TWO_POINT[PAPER_COUNTERPART[corpus]]
    fit, sd, margin = result.fit, result.alpha_sd, alpha_margin()
    verdict = claims.compare(fit.alpha, sd, ref.exponent, margin) if fit.fits else claims.UNRESOLVED
    redraws = [claims.compare(a, sd, ref.exponent, margin) for a in recentred(fit.alpha, result.alphas)
               if math.isfinite(a)]
    verdict, share = _redrawn(verdict, redraws) if fit.fits else (verdict, None)
    return Claim(f"on {ref.corpus} the exponent is α = {ref.exponent:.2f}", f"α = {ref.exponent:.2f}",
                 f"α = {fit.alpha:.3f} ± {sd:.3f} ({label}; {model_words(model, result)})", verdict,
                 f"2-sd interval within ±{margin:.2f} of the paper's α: the spread of the paper's own two-point "
                 "exponents across its corpora (PG19 0.91, Wikipedia 0.94); not resolved where no model fits",
                 f"{corpus} stands in for {ref.corpus}, another tokenizer for LLaMA 3's, millions of tokens for billions",
                 share)


def last_point(r: dict[str, np.ndarray]) -> int:
    """Index of the largest distance with pairs."""
    return int(np.flatnonzero(np.isfinite(r["raw"]))[-1])


def bias_claim(label: str, d: np.ndarray, r: dict[str, np.ndarray]) -> Claim:
    """"Î has a positive bias that dominates at large d": the corpus-wide shuffle is more than half of raw Î at
    the largest d (a ratio whose sd comes from the replicates)."""
    j = last_point(r)
    share = float(r["shuffled_corpus"][j] / r["raw"][j])
    redrawn = recentred(share, r["boot_corpus"][:, j] / r["boot_raw"][:, j])
    sd = bootstrap_sd(redrawn)
    verdict, stable = _redrawn(claims.exceeds(share, sd, DOMINATES),
                               [claims.exceeds(s, sd, DOMINATES) for s in redrawn if math.isfinite(s)])
    return Claim("the estimate Î(d) has a positive bias that dominates at large d", "— (Appx. B)",
                 f"corpus-wide shuffle = {share:.0%} ± {sd:.0%} of raw Î at d = {int(d[j])} ({label})", verdict,
                 f"more than {DOMINATES:.0%} of raw Î by 2 sd: 'dominates' in the claim's own words",
                 "the bias grows as the pairs thin out: its share depends on the corpus size", stable)


def offset_alpha(d: np.ndarray, curve: np.ndarray) -> float:
    """α of the paper's log-space offset fit (:func:`l2m.fit.fit_power_law_with_offset`) to the finite, positive points."""
    ok = np.isfinite(curve) & (curve > 0)
    return fit_power_law_with_offset(d[ok], curve[ok]).alpha if ok.sum() >= 3 else float("nan")


def paired_claim(claim: str, paper_text: str, what: str, d: np.ndarray, curve: np.ndarray, replicates: np.ndarray,
                 result: ModelResult, why: str) -> Claim:
    """α of the paper's offset fit to ``curve`` equals α of the model that fits, within :func:`alpha_margin`;
    the sd is that of the paired bootstrap difference (both α from the same replicate)."""
    alpha = offset_alpha(d, curve)
    gap = alpha - result.fit.alpha
    diffs = recentred(gap, np.array([offset_alpha(d, c) - a for c, a in zip(replicates, result.alphas)]))
    sd, margin = bootstrap_sd(diffs), alpha_margin()
    verdict, stable = _redrawn(claims.compare(gap, sd, 0.0, margin),
                               [claims.compare(x, sd, 0.0, margin) for x in diffs if math.isfinite(x)])
    return Claim(claim, paper_text, f"α = {alpha:.3f} against {result.fit.alpha:.3f}: difference {gap:+.3f} ± {sd:.3f} "
                 f"({what})", verdict, f"paired bootstrap difference within ±{margin:.2f}, the spread of the paper's "
                 "two-point exponents across its corpora", why, stable)


def between_claim(corpus: str, d: np.ndarray, diff: Difference) -> Claim:
    """"The between-document MI (within-document − corpus-wide shuffle) is positive at every d": holds when every
    point is above zero by 2 σ, does not hold when one is below it by 2 σ, not resolved otherwise."""
    ok = np.isfinite(diff.value)

    def every_d(values: np.ndarray) -> str:
        per_d = [claims.exceeds(v, s, 0.0) for v, s in zip(values[ok], diff.sigma[ok])]
        return claims.FAILS if claims.FAILS in per_d else claims.HOLDS if all(v == claims.HOLDS for v in per_d) \
            else claims.UNRESOLVED

    verdict, stable = _redrawn(every_d(diff.value), [every_d(rep) for rep in recentred(diff.value, diff.replicates)])
    low = int(np.nanargmin(diff.value))
    return Claim("the within-document shuffle lies above the corpus-wide one at every d (a between-document MI ≥ 0)",
                 "— (this book's reading of the two baselines)",
                 f"within − corpus-wide: {np.nanmin(diff.value):+.3f} ± {diff.sigma[low]:.3f} at d = {int(d[low])}, "
                 f"{np.nanmax(diff.value):+.3f} at most ({corpus})", verdict,
                 "every point above 0 by 2 σ (document-level); margin 0: any negative value contradicts it",
                 "the corpus-wide shuffle's bias is not the raw curve's where the pairs come from a few documents",
                 stable)


def counterexample_claim(gap: float, vocab: int) -> Claim:
    """Sec. 4.4's counter-example, computed on one draw: two-point MI, bipartite MI and the sample's entropy agree."""
    return Claim("Sec. 4.4 counter-example: two-point MI = bipartite MI = ln V at every distance",
                 f"ln V = {math.log(vocab):.3f}", f"largest difference {gap:.1e} nats",
                 claims.exact(gap < COUNTER_TOLERANCE),
                 f"all within {COUNTER_TOLERANCE} nats: the three come from one draw, so only the estimators' "
                 "corrections differ ((V − 1)/2N ≤ 0.008 nats for 4000 documents)", "—")


def rows(d: np.ndarray, bpe: dict[str, dict], stated: dict[str, tuple[str, ModelResult]],
         between: dict[str, Difference], first: str, tokenizer: str, counter_gap: float, counter_vocab: int) -> list[Claim]:
    """Chapter 02's claims, in the order of the chapter. ``bpe`` maps a corpus to its BPE
    :func:`l2m.twopoint.measure` result; ``stated`` maps "<corpus>: <tokenizer> tokens" and "<corpus>: characters"
    to the model the chapter states (:func:`l2m.decay.chosen`); ``between`` maps a corpus to its BPE
    within − corpus-wide difference."""
    d = np.asarray(d, dtype=float)
    bpe_label = lambda name: f"{name}: {tokenizer} tokens"
    out = [decay_claim(label, *stated[label]) for label in (bpe_label(first), f"{first}: characters")]
    out += [exponent_claim(name, bpe_label(name), *stated[bpe_label(name)]) for name in bpe]
    out.append(bias_claim(bpe_label(first), d, bpe[first]))
    model, result = stated[bpe_label(first)]
    r = bpe[first]
    out.append(paired_claim("the offset fit Î(d) ≈ A·d^−α + C on the raw curve finds the decay's α",
                            paper.TWO_POINT["pg19"].label("d", decay=True) + " + C",
                            f"paper's fit on raw Î against {model_words(model, result)}, {bpe_label(first)}", d, r["raw"],
                            r["boot_raw"], result, "the bias is not one constant: the pairs thin out with d"))
    out.append(paired_claim("equal pair counts with the offset fit recover the power-law decay (this book's remedy)",
                            "— (this book)", f"equal pairs, offset fit, against {model_words(model, result)}, {bpe_label(first)}",
                            d, r["equal"], r["boot_equal"], result,
                            "equal pairs stop at the span half the tokens reach; the BPE pair table stays undersampled"))
    out += [between_claim(name, d, between[name]) for name in bpe]
    out.append(counterexample_claim(counter_gap, counter_vocab))
    return out
