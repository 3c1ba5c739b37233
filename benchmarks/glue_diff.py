"""The glued values of two builds side by side: how many significant digits of each survive a change of machine.

    python benchmarks/glue_diff.py _build/src/book other/_build/src/book

Two builds of the same preset and revision, made under different kernel paths (ATEN_CPU_CAPABILITY), thread
counts or machines, each from its own empty cache of computed results, differ only by floating-point rounding.
For every value a chapter glues (MyST-NB ``glue``), this prints both values and the number of leading
significant digits they share; text values (the claims summaries, verdict counts) must be equal.
"""
from __future__ import annotations

import argparse
import json
import math
import re
from pathlib import Path

NUMBER = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")


def glued(folder: Path) -> dict[str, str]:
    """name → text/plain of every glued output of the executed notebooks in ``folder``."""
    out: dict[str, str] = {}
    for notebook in sorted(folder.glob("*.ipynb")):
        for cell in json.loads(notebook.read_text())["cells"]:
            for output in cell.get("outputs", []):
                scrap = output.get("metadata", {}).get("scrapbook", {})
                text = output.get("data", {}).get(scrap.get("mime_prefix", "") + "text/plain")
                if "name" in scrap and text is not None:  # glue(..., display=False) prefixes its mime types
                    out[scrap["name"]] = "".join(text) if isinstance(text, list) else text
    return out


def shared_digits(a: str, b: str) -> float:
    """Leading significant digits two numbers share (inf when equal, 0 when they differ in the first)."""
    x, y = float(a.strip("'\"")), float(b.strip("'\""))
    if x == y:
        return math.inf
    scale = max(abs(x), abs(y))
    return max(0.0, math.floor(-math.log10(abs(x - y) / scale))) if scale else math.inf


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("first", type=Path)
    parser.add_argument("second", type=Path)
    args = parser.parse_args()
    a, b = glued(args.first), glued(args.second)
    differ = 0
    for name in sorted(set(a) | set(b)):
        x, y = a.get(name, "—"), b.get(name, "—")
        if NUMBER.match(x.strip("'\"")) and NUMBER.match(y.strip("'\"")):
            digits = shared_digits(x, y)
            label = "equal" if digits == math.inf else f"{digits:.0f} digits"
        else:
            label = "equal" if x == y else "DIFFERENT TEXT"
        differ += label != "equal"
        print(f"{name:40s} {x[:38]:>38s}  {y[:38]:>38s}  {label}")
    print(f"[glue] {len(set(a) | set(b))} values, {differ} differ")


if __name__ == "__main__":
    main()
