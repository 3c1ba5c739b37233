"""The fp32 scorer's error against float64, over inputs, batch shapes, kernel paths and threads.

    python benchmarks/bench_numerics.py [--sequences 41]     # every kernel path of this CPU × 1 and 2 threads

Measures what ``l2m.numerics.FP32_SCORE_ERROR`` rests on: for a packaged model (SmolLM2-135M, Gemma-3-270M), text prefixes and random token ids
of 1–128 tokens are scored in float64 once (``numerics.reference_scores``), then in fp32 by every path the book
uses (each sequence alone; packed whole; packed 64 tokens a batch with 7-position vocabulary chunks; extended from
a reused KV cache), each in a fresh process per ATEN_CPU_CAPABILITY value this CPU supports and per thread count.
Prints, per path, the largest |fp32 − float64| per token and the largest packed-against-alone difference.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

TEXT = ("It is a truth universally acknowledged, that a single man in possession of a good fortune, must be in want "
        "of a wife. However little known the feelings or views of such a man may be on his first entering a "
        "neighbourhood, this truth is so well fixed in the minds of the surrounding families, that he is considered "
        "the rightful property of some one or other of their daughters. Call me Ishmael. Some years ago, never mind "
        "how long precisely, having little or no money in my purse, and nothing particular to interest me on shore")


def make_sequences(tokenizer, bos_id: int, n: int) -> list[np.ndarray]:
    text = np.array([i for i in tokenizer(TEXT)["input_ids"] if i != bos_id])
    rng = np.random.default_rng(0)
    out = [text[: int(k)] for k in np.unique(np.geomspace(1, min(128, len(text)), n // 2).astype(int))]
    out += [text[s : s + k] for s, k in zip(rng.integers(0, len(text) // 2, n // 4), rng.integers(2, 64, n // 4))]
    while len(out) < n:
        out.append(rng.integers(0, tokenizer.vocab_size, int(rng.integers(1, 129))))
    return out


def extension_family(sequences: list[np.ndarray]) -> tuple[np.ndarray, list[tuple[int, np.ndarray]]]:
    """The longest sequence as a root, extended after every 7th token by the other sequences (vCLUB's passes)."""
    root = sequences[int(np.argmax([len(s) for s in sequences]))]
    return root, [(n, s) for n, s in zip(range(0, len(root), 7), sequences)]


def worker(folder: Path, model: str) -> None:
    """One kernel path (this process's environment): every fp32 path against the stored float64 scores."""
    from l2m import lm, numerics

    data = np.load(folder / "reference.npz", allow_pickle=True)
    sequences, reference = list(data["sequences"]), list(data["reference"])
    whole = lm.TransformersScorer(model, batch_tokens=4096)
    small = lm.TransformersScorer(model, batch_tokens=64, vocab_chunk=7)
    paths = {"alone": [whole.score([s])[0] for s in sequences], "packed": whole.score(sequences),
             "packed 64 tokens, chunks of 7": small.score(sequences)}
    family = extension_family(sequences)
    (_, _, extended), = [item for batch in whole.score_extensions([family]) for item in batch]
    ext_reference = list(data["extended"])
    result = {name: max(float(np.abs(g - r).max()) for g, r in zip(got, reference)) for name, got in paths.items()}
    result["KV cache reused"] = max(float(np.abs(g - r).max()) for g, r in zip(extended, ext_reference))
    # what the tests compare: two fp32 paths through the same function, summed in different orders
    for name in ("packed", "packed 64 tokens, chunks of 7"):
        result[f"{name} − alone"] = max(float(np.abs(a - b).max()) for a, b in zip(paths[name], paths["alone"]))
    wholes = [np.concatenate([family[0][:n], s]) for n, s in family[1]]
    result["KV cache reused − alone"] = max(float(np.abs(g - whole.score([w])[0]).max())
                                            for g, w in zip(extended, wholes))
    result["tokens"] = int(sum(len(s) for s in sequences))
    print(json.dumps({"path": numerics.kernel_path(), **result}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sequences", type=int, default=41)
    parser.add_argument("--model", default="smollm2-135m", help="a packaged model of l2m.packaged.MODELS")
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args.worker, args.model)
    from l2m import lm, numerics

    scorer = lm.TransformersScorer(args.model)
    sequences = make_sequences(scorer.tokenizer, scorer.bos_id, args.sequences)
    root, extensions = extension_family(sequences)
    whole = [np.concatenate([root[:n], s]) for n, s in extensions]
    reference = numerics.reference_scores(args.model, scorer.bos_id, sequences + whole)
    reference, extended = reference[: len(sequences)], reference[len(sequences):]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        np.savez(Path(tmp) / "reference.npz", sequences=np.array(sequences, dtype=object),
                 reference=np.array(reference, dtype=object), extended=np.array(extended, dtype=object))
        for path in numerics.kernel_paths():
            for threads in (1, 2):
                env = {**os.environ, "ATEN_CPU_CAPABILITY": path, "OMP_NUM_THREADS": str(threads)}
                out = subprocess.run([sys.executable, __file__, "--worker", tmp, "--model", args.model], env=env, check=True,
                                     capture_output=True, text=True).stdout
                rows.append(json.loads(out.strip().splitlines()[-1]))
                print(rows[-1], flush=True)
    keys = [k for k in rows[0] if k not in ("path", "tokens")]
    worst = {k: max(r[k] for r in rows) for k in keys}
    print(f"[numerics] {args.model}: {len(sequences)} sequences, {rows[0]['tokens']} tokens, {len(rows)} kernel paths × threads")
    for k, v in worst.items():
        print(f"[numerics] largest {k}: {v:.3g} nats")
    fp32 = max(v for k, v in worst.items() if "− alone" not in k)
    paths = max(v for k, v in worst.items() if "− alone" in k)
    print(f"[numerics] largest |fp32 − float64|: {fp32:.3g} nats; largest difference of two fp32 paths: {paths:.3g} "
          f"nats (l2m.numerics measured: {numerics.FP32_SCORE_ERROR_MEASURED.get(args.model)}, "
          f"{numerics.FP32_PATH_DIFFERENCE_MEASURED.get(args.model)})")


if __name__ == "__main__":
    main()
