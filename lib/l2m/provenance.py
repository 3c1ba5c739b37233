"""How each page was made: preset, changed parameters, date, machine, library versions, revision and time.

The build (:mod:`l2m.build`) records this for every chapter it executes, stores it in the executed notebook's
metadata (``l2m_provenance``) and puts it on the chapter's page, under its title; the introduction gets one table
of every chapter's record and the whole build's time, made from the same records. A reader of a published page
can tell which preset built it, when, on what hardware and software, from which revision, and whether that
revision had uncommitted changes (then the page says so: its numbers may come from code no commit holds).
"""
from __future__ import annotations

import ast
import datetime
import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

KEY = "l2m_provenance"  # notebook metadata field
CELL_TAG = "l2m-provenance"  # the page's provenance cell carries this tag
LIBRARIES = ("torch", "transformers", "numpy", "papermill", "jupyter-book")


def cpu_model() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def gpu_model() -> str | None:
    """The first CUDA device's name, asked of nvidia-smi (no torch import in the build process), or None."""
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True,
                             text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return None
    names = [n.strip() for n in out.stdout.splitlines() if n.strip()] if out.returncode == 0 else []
    return f"{len(names)} × {names[0]}" if names else None


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def revision(root: Path) -> dict[str, Any]:
    """The commit the build ran from and whether the work tree differed from it (untracked files count)."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True).stdout.strip()

    commit = git("rev-parse", "--short=12", "HEAD")
    if not commit:
        return {"commit": "unknown (not a git checkout)", "clean": False}
    return {"commit": commit, "clean": git("status", "--porcelain") == ""}


def changed_parameters(notebook: Path, parameters: dict) -> dict[str, Any]:
    """The parameters a preset sets to something other than the value in the chapter's own parameters cell."""
    import papermill

    defaults = papermill.inspect_notebook(str(notebook))
    changed = {}
    for name, value in parameters.items():
        default = defaults.get(name, {}).get("default")
        try:
            default = ast.literal_eval(default) if default is not None else None
        except (ValueError, SyntaxError):
            pass  # an expression: compared as its source text
        if value != default:
            changed[name] = value
    return changed


def record(preset: str, notebook: Path, parameters: dict, seconds: float, root: Path) -> dict[str, Any]:
    """One chapter's provenance, as stored in its executed notebook."""
    return {"preset": preset, "changed_parameters": changed_parameters(notebook, parameters),
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "machine": {"cpu": cpu_model(), "cores": os.cpu_count(), "gpu": gpu_model(),
                        "kernel_path": os.environ.get("ATEN_CPU_CAPABILITY", "the widest the CPU has"),
                        "threads": os.environ.get("OMP_NUM_THREADS", "all cores")},
            "versions": versions(), "revision": revision(root), "seconds": round(seconds, 1)}


def _duration(seconds: float) -> str:
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s" if minutes else f"{rest} s"


def page_markdown(rec: dict[str, Any]) -> str:
    """The chapter page's box: a dropdown admonition that names everything :func:`record` holds."""
    machine, rev = rec["machine"], rec["revision"]
    changed = ", ".join(f"`{k} = {v!r}`" for k, v in rec["changed_parameters"].items()) or "none (the chapter's own)"
    libraries = ", ".join(f"{k} {v}" for k, v in rec["versions"].items())
    tree = "clean" if rev["clean"] else "**with uncommitted changes: this page's numbers may come from code no " \
                                        "commit holds**"
    lines = [
        f"```{{admonition}} How this page was made: preset `{rec['preset']}`, {rec['date']}",
        ":class: dropdown note",
        f"- **Preset** `{rec['preset']}`; parameters that differ from the chapter's defaults: {changed}",
        f"- **Executed** {rec['date']} in {_duration(rec['seconds'])}",
        f"- **Machine** {machine['cpu']}, {machine['cores']} cores"
        + (f", GPU {machine['gpu']}" if machine.get("gpu") else ", no GPU")
        + f"; kernel path: {machine['kernel_path']}, threads: {machine['threads']}",
        f"- **Software** {libraries}",
        f"- **Revision** `{rev['commit']}`, work tree {tree}",
        "```",
    ]
    return "\n".join(lines)


def book_table(records: dict[str, dict[str, Any]]) -> str:
    """The introduction's table: every chapter's preset, date, time and revision, and the whole build's time."""
    rows = ["| chapter | preset | executed | time | revision |", "|---|---|---|---|---|"]
    for chapter, rec in records.items():
        rev = rec["revision"]
        rows.append(f"| {chapter} | `{rec['preset']}` | {rec['date']} | {_duration(rec['seconds'])} | "
                    f"`{rev['commit']}`{'' if rev['clean'] else ' (uncommitted changes)'} |")
    total = sum(rec["seconds"] for rec in records.values())
    rows.append(f"| **all chapters** | | | **{_duration(total)}** | |")
    machines = sorted({f"{r['machine']['cpu']}, {r['machine']['cores']} cores" for r in records.values()})
    return "\n".join(rows) + "\n\nMachine: " + "; ".join(machines) + ".\n"
