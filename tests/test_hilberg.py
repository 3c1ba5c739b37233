"""Chapter 01's analysis and claims on constructed curves whose answer is known: power against logarithmic
growth, paired bootstrap differences, the compressor's fit range, and claims that can fail."""
import math

import numpy as np
import pytest

from l2m import bipartite, chapters, hilberg, passes
from l2m import hilberg_claims as hc
from l2m.claims import FAILS, HOLDS, UNRESOLVED
from l2m.fit import compare_power_log, fit_log_law_weighted
from l2m.params import validate


def synthetic(curves: dict, n: int = 20, max_len: int = 2048, noise: float = 0.05, seed: int = 0,
              ratios=(2,)) -> bipartite.Measurement:
    """Windows whose estimate is truth(L) × (1 + noise·z), z standard normal per window and point."""
    points = passes.plan_points(max_len, ratios)
    lengths = np.array([p.length for p in points], dtype=float)
    rng = np.random.default_rng(seed)
    per_window = {k: f(lengths) * (1 + rng.normal(0, noise, size=(n, len(points)))) for k, f in curves.items()}
    plan = passes.make_plan(np.zeros((n, max_len), dtype=np.int64), points, k_pairings=1)
    return bipartite.Measurement("m", "c", plan, per_window, bipartite.summarize(plan, per_window), 1.0, 0.0,
                                 np.zeros(max_len))


def log_curve(L):
    return np.log(L) + 2  # the referee's counter-example: log-log R² 0.98 over L = 4–2048


def power_curve(L):
    return 1.3 * L**0.7


def test_weighted_log_law_is_exact_on_a_log_curve():
    x = 2.0 ** np.arange(2, 12)
    f = fit_log_law_weighted(x, 2 + 0.5 * np.log(x), np.full(x.shape, 0.1))
    assert f.offset == pytest.approx(2, abs=1e-12) and f.slope == pytest.approx(0.5, abs=1e-12)  # float64, exact data
    assert f.r_squared == pytest.approx(1.0, abs=1e-12)


def test_comparison_picks_the_law_that_made_the_data_without_noise():
    x = 2.0 ** np.arange(2, 12)
    sigma = np.full(x.shape, 0.1)
    assert compare_power_log(x, log_curve(x), sigma).preferred == "logarithmic"
    assert compare_power_log(x, power_curve(x), sigma).preferred == "power"
    exact = compare_power_log(x, power_curve(x), sigma)
    assert exact.chi2_power == pytest.approx(0, abs=1e-12) and exact.power.exponent == pytest.approx(0.7, abs=1e-9)


@pytest.mark.parametrize("noise", [0.01, 0.05])
def test_power_claim_fails_on_logarithmic_growth_and_holds_on_a_power_law(noise):
    """The first claim must be able to fail: ln L + 2 gives "does not hold", 1.3·L^0.7 "holds", with noise."""
    cfg = validate(chapters.HilbergChapter, max_len=2048, ratios=[2], n_boot=100, second_model="", second_corpus="")
    for curve, expected in ((log_curve, FAILS), (power_curve, HOLDS)):
        m = synthetic({"vclub": curve, "direct_corrected": curve}, noise=noise)
        row = hc.chapter_claims(cfg, m, {}, {})[0]
        assert row.verdict == expected and row.stable >= 0.9, (curve.__name__, row)


def test_very_noisy_logarithmic_data_are_not_resolved():
    law, deltas, _ = hilberg.law_comparison(synthetic({"vclub": log_curve}, noise=0.2), "vclub", 2, 100)
    assert law.preferred == "logarithmic"
    assert hc.redrawn(hc.two_sided, law.delta_aic, hilberg.draw_sd(deltas), deltas)[0] == UNRESOLVED


def test_doubling_increase_is_constant_for_a_log_law():
    L, increase = hilberg.doubling_increase(synthetic({"vclub": log_curve}, noise=0.0), "vclub", 2)
    assert np.allclose(increase, math.log(2), atol=1e-12) and list(L) == [8, 16, 32, 64, 128, 256, 512, 1024, 2048]


def test_paired_difference_cancels_what_the_windows_share():
    """Two estimates from the same windows, one twice the other: equal exponents in every resample, so the
    paired sd is 0 (exact: the same resamples), while hypot(sd_a, sd_b) is not."""
    m = synthetic({"a": power_curve, "b": lambda L: 2 * power_curve(L)}, noise=0.1)
    m.per_window["b"][:] = 2 * m.per_window["a"]
    a, b = (hilberg.exponent_draws(m, k, 2, 100) for k in ("a", "b"))
    diff, sd, draws = hc.difference(a, b, paired=True)
    assert diff == pytest.approx(0, abs=1e-12) and sd == pytest.approx(0, abs=1e-12)
    assert hc.difference(a, b, paired=False)[1] > 0.001
    assert hilberg.draw_sd(a[1]) == pytest.approx(hilberg.exponent(m, "a", 2, 100)[1], rel=1e-12)  # same resamples


def test_bend_claim_holds_on_a_bend_and_is_not_resolved_on_a_noisy_straight_line():
    cfg = validate(chapters.HilbergChapter, max_len=2048, ratios=[2], n_boot=100, second_model="", second_corpus="")
    bent = lambda L: np.where(L <= 64, L**0.8, 64**0.8 * (L / 64) ** 0.2)  # noqa: E731
    rows = hc.chapter_claims(cfg, synthetic({"vclub": bent, "direct_corrected": bent}, noise=0.05), {}, {})
    assert rows[3].claim.startswith("a small model's I(L) bends") and rows[3].verdict == HOLDS
    assert rows[3].stable >= 0.9
    straight = synthetic({"vclub": power_curve, "direct_corrected": power_curve}, noise=0.5, n=8)
    assert hc.chapter_claims(cfg, straight, {}, {})[3].verdict == UNRESOLVED
    # a curve that steepens at long L bends the other way: the claim does not hold
    steeper = lambda L: np.where(L <= 64, L**0.3, 64**0.3 * (L / 64) ** 0.8)  # noqa: E731
    assert hc.chapter_claims(cfg, synthetic({"vclub": steeper, "direct_corrected": steeper}), {}, {})[3].verdict == FAILS


def test_paper_exponent_rows_are_equivalence_tests():
    cfg = validate(chapters.HilbergChapter, max_len=2048, ratios=[2], n_boot=100, second_model="", second_corpus="")
    at = lambda beta: (lambda L: 3 * L**beta)  # noqa: E731
    close = hc.chapter_claims(cfg, synthetic({"vclub": at(0.71), "direct_corrected": at(0.76)}, noise=0.01), {}, {})
    far = hc.chapter_claims(cfg, synthetic({"vclub": at(0.40), "direct_corrected": at(0.40)}, noise=0.01), {}, {})
    assert [r.verdict for r in close[1:3]] == [HOLDS, HOLDS] and [r.verdict for r in far[1:3]] == [FAILS, FAILS]


def test_ratio_and_corpus_and_model_rows():
    cfg = validate(chapters.HilbergChapter, max_len=256, ratios=[2, 4], n_boot=100, second_model="", second_corpus="")
    same = {"vclub": power_curve, "direct_corrected": power_curve, "direct": power_curve}
    main = synthetic(same, max_len=256, ratios=(2, 4), noise=0.01)
    flatter = synthetic({k: (lambda L: 3 * L**0.4) for k in same}, max_len=256, ratios=(2,), noise=0.01, seed=1)
    by_byte = {"m": np.full(101, 1.0), "better": np.full(101, 0.9)}  # the second model: fewer nats per byte
    flatter = bipartite.Measurement("better", "wiki", flatter.plan, flatter.per_window, flatter.summary, 1.0, 0.0,
                                    np.zeros(256))
    rows = {r.claim.split(" (")[0]: r for r in hc.chapter_claims(cfg, main, {"better": flatter}, {"wiki": flatter}, by_byte)}
    assert rows["the split ratios L/ℓ give the same exponent"].verdict == HOLDS
    assert rows["Wikipedia's exponent is smaller than PG19's"].verdict == HOLDS
    assert rows["a better model finds a larger exponent"].verdict == FAILS  # the better model's β is smaller here
    unknown = {"m": np.full(101, 1.0), "better": np.full(101, 1.0)}  # neither is better: the claim has no premise
    rows = hc.chapter_claims(cfg, main, {"better": flatter}, {}, unknown)
    assert [r.verdict for r in rows if r.claim.startswith("a better model")] == [UNRESOLVED]


def test_compressor_span_skips_the_fixed_cost():
    """The referee's lzma means (16.6, 16.1, 20.8 at L = 4–16, 113.7 at 32), then growing: the fit starts at the
    first L with I ≥ 10 × 16.6."""
    values = np.array([16.6, 16.1, 20.8, 113.7, 240.0, 480.0, 900.0, 1700.0, 3000.0, 5400.0])
    m = synthetic({"compression_lzma": lambda L: values}, noise=0.0)
    assert hilberg.compressor_span(m, "compression_lzma", 2) == (64, 2048)
    flat = synthetic({"compression_lzma": lambda L: np.full(L.shape, 16.0)}, noise=0.0)
    assert hilberg.compressor_span(flat, "compression_lzma", 2) is None


def test_better_model_reads_the_paired_difference():
    first, second = np.array([1.00, 1.01, 0.99, 1.00]), np.array([0.90, 0.92, 0.89, 0.91])
    assert hc.better_model({"a": first, "b": second}, "a", "b")[0] == "b"
    assert hc.better_model({"a": second, "b": first}, "a", "b")[0] == "a"
    assert hc.better_model({"a": first, "b": first + np.array([0, 0.2, -0.2, 0.1])}, "a", "b")[0] is None


def test_ratio_row_fails_when_the_ratios_disagree_and_corpus_row_when_wiki_is_steeper():
    cfg = validate(chapters.HilbergChapter, max_len=256, ratios=[2, 4], n_boot=100, second_model="", second_corpus="")
    same = {"vclub": power_curve, "direct_corrected": power_curve, "direct": power_curve}
    main = synthetic(same, max_len=256, ratios=(2, 4), noise=0.01)
    four = [j for j, p in enumerate(main.plan.points) if p.ratio == 4]
    main.per_window["vclub"][:, four] *= np.array([main.plan.points[j].length for j in four]) ** 0.3  # β 1.0 at r = 4
    steeper = synthetic({k: (lambda L: L**1.2) for k in same}, max_len=256, noise=0.01, seed=1)
    rows = {r.claim.split(" (")[0]: r for r in hc.chapter_claims(cfg, main, {}, {"wiki": steeper})}
    assert rows["the split ratios L/ℓ give the same exponent"].verdict == FAILS
    assert rows["Wikipedia's exponent is smaller than PG19's"].verdict == FAILS


@pytest.mark.parametrize("cost, amplitude, beta, expected", [(16, 0.1, 1.2, HOLDS), (1, 1, 0.6, FAILS)])
def test_compression_row_compares_exponents_over_the_compressors_range(cost, amplitude, beta, expected):
    """lzma: a fixed cost, then amplitude·L^beta on top; vCLUB 1.3·L^0.7. Over lzma's range (where it is ≥ 10 × its
    value at L = 4) a steeper lzma holds, a flatter one does not."""
    cfg = validate(chapters.HilbergChapter, max_len=2048, ratios=[2], n_boot=100, second_model="", second_corpus="")
    lzma = lambda L: cost + amplitude * L**beta  # noqa: E731
    m = synthetic({"vclub": power_curve, "direct_corrected": power_curve, "compression_lzma": lzma}, noise=0.01)
    span = hilberg.compressor_span(m, "compression_lzma", 2)
    assert span is not None and span[0] > 4
    row = hc.chapter_claims(cfg, m, {}, {})[-1]
    assert row.claim.startswith("compression estimates") and row.verdict == expected


def test_nats_per_byte_divides_each_models_total_nll_by_the_texts_bytes():
    """The per-byte comparison of chapter 01: the same texts, each model's own tokens, total −log q / bytes (the
    stand-in's passes are cached under its own fingerprint)."""
    from l2m.tokenizer import encode, load_tokenizer

    class Counting:  # log q(w_t) = −(1 + w_t mod 7)/3
        name, fingerprint, batch_tokens = "smollm2-135m", "c" * 64, 64

        def score(self, sequences, progress=False):
            return [-(1 + np.asarray(s) % 7) / 3.0 for s in sequences]

    texts = ["Call me Ishmael.", "The sea, the sea."]
    got = hilberg.nats_per_byte({"smollm2-135m": Counting()}, texts, n_boot=4, seed=1)["smollm2-135m"]
    ids = encode(load_tokenizer("smollm2-135m"), texts)
    expected = sum(float(((1 + np.asarray(i) % 7) / 3.0).sum()) for i in ids) / sum(len(t.encode()) for t in texts)
    assert got.shape == (5,) and got[0] == pytest.approx(expected, rel=1e-12)
