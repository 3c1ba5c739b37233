"""Every number the book quotes from the paper, with where the paper gives it.

Chen, Mayné i Comas, Jin, Luo, Soljačić, "L2M: Mutual Information Scaling Law for Long-Context
Language Modeling", NeurIPS 2025 (arXiv 2503.04725). Chapters read the paper's numbers from here
and nowhere else, so a number quoted on two pages is one number; the chapters' claims tables
(:mod:`l2m.claims`) set them beside what the reader's own build measured.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PaperFit:
    """A power law A·x^exponent the paper reports (x^−exponent for decays), and where."""

    amplitude: float
    exponent: float
    corpus: str
    model: str
    estimator: str
    where: str  # section / figure / table of the paper
    axis: str = "L"  # the variable the paper regressed against
    x_max: int = 0  # largest x of the paper's fit (0: not stated)

    def label(self, var: str | None = None, decay: bool = False) -> str:
        sign = "−" if decay else ""
        return f"{self.amplitude:.2f}·{var or self.axis}^{sign}{self.exponent:.2f}"


# Bipartite MI of text, LLaMA 3.1 405B (Sec. 4 and Appx. A): L up to 2048, split L/ℓ = 2. The paper's
# released fits regress against the split point ℓ (= L/2 here), not L: same exponent, amplitude A_L·2^β.
BIPARTITE = {
    ("pg19", "direct"): PaperFit(2.27, 0.76, "PG19", "LLaMA 3.1 405B", "direct", "Sec. 4, Appx. A", axis="ℓ",
                                 x_max=1024),
    ("pg19", "vclub"): PaperFit(3.26, 0.71, "PG19", "LLaMA 3.1 405B", "vCLUB", "Sec. 4, Appx. A", axis="ℓ",
                                x_max=1024),
    ("wikipedia", "direct"): PaperFit(4.50, 0.66, "Wikipedia", "LLaMA 3.1 405B", "direct", "Sec. 4, Appx. A",
                                      axis="ℓ", x_max=1024),
    ("wikipedia", "vclub"): PaperFit(7.01, 0.60, "Wikipedia", "LLaMA 3.1 405B", "vCLUB", "Sec. 4, Appx. A",
                                     axis="ℓ", x_max=1024),
}
BIPARTITE_RATIOS = (2, 3, 4)  # L/ℓ of the paper's splits (Appx. A), the equal split first
COMPRESSION_BETA = 0.8  # exponent of compression-based estimates the paper cites (Appx. A.II), biased upward

# Two-point MI, bias-corrected fit A·d^−α + C (Appx. B, eqs. B.10–B.15).
TWO_POINT = {
    "pg19": PaperFit(1.10, 0.91, "PG19", "LLaMA 3 tokenizer", "Grassberger, offset fit", "Appx. B", axis="d",
                     x_max=4096),
    "wikipedia": PaperFit(1.87, 0.94, "Wikipedia", "LLaMA 3 tokenizer", "Grassberger, offset fit", "Appx. B",
                          axis="d", x_max=256),
}
TWO_GRAM_WEIGHTS = (1 / 5, 4 / 5)  # H(Y1 Y2) ≈ ⅕ H_q(Y1 Y2 | BOS) + ⅘ Ĥ_G(bigrams), the direct estimate's correction (Appx. B)

# The Gaussian families (Sec. 4.4, Appx. C).
# NeurIPS version, Sec. 6: at 10^6 tokens the bipartite MI "could exceed 60,000 nats", and by Fig. 3c a recurrent
# state of dimension "approaching one million" would be needed to keep the KL low
EXTRAPOLATION_TOKENS = 10**6
EXTRAPOLATION_MI_NATS = 60_000
EXTRAPOLATION_STATE = 1_000_000
GAUSSIAN_BETA = 0.79  # the power family's I_BP(L/2) ∝ L^β; log₄ 3 without the boundary step

# Training (Appx. E/F).
GAUSSIAN_TRAINING = {"optimizer": "AdamW", "lr": 5e-5, "weight_decay": 0.01, "warmup": 2000, "schedule": "cosine",
                     "steps": 500_000, "batch": 4, "channels": 64, "dtype": "float32"}
TEXT_TRAINING = {"corpus": "PG19", "seq_len": 4096, "batch": 8, "epochs": 5, "tokenizer": "GPT-NeoX",
                 "eval_samples": 10_000}

# PG19 training: average NLL at L = 4096 (Table F.1), nats per token.
TABLE_F1 = {"gpt2-125m": 2.977, "gpt2-355m": 2.771, "mamba-130m": 3.111, "mamba-370m": 2.875, "mamba-790m": 2.766}
