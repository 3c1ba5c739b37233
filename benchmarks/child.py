"""Peak memory of one measurement, taken in a child process of its own (shared by the benchmarks).

A process's peak resident memory (``ru_maxrss``) only grows, so each memory figure is measured
in a fresh interpreter: the benchmark re-runs its own script with a flag, the child prints one
JSON line with its numbers and :func:`peak_gb`, and :func:`run_child` returns that line.
"""
from __future__ import annotations

import json
import resource
import subprocess
import sys


def peak_gb() -> float:
    """This process's peak resident memory so far, GB (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def report(values: dict) -> None:
    """The child's last line: its numbers and its peak memory, as JSON."""
    print(json.dumps(values | {"peak_gb": peak_gb()}))


def run_child(script: str, flag: str) -> dict:
    """Run ``script flag`` in a fresh interpreter and return the JSON of its last line."""
    out = subprocess.run([sys.executable, script, flag], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])
