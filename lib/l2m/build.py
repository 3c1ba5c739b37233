"""Build the book: execute every chapter with papermill at a preset, then Jupyter Book the results.

    python -m l2m.build --preset default      # what `make book` runs
    python -m l2m.build --preset quick --check-figures

1. The chapters are the notebooks named in ``_toc.yml``; a preset (``presets/<name>.yml``)
   maps each notebook's name to its papermill parameters.
2. Each notebook is executed into ``_build/src/book/`` (a staged copy of the book's source)
   unless the copy there was made from the same notebook, parameters, package code and
   requirements: a rebuild with nothing changed executes nothing. A notebook that raises
   stops the build, naming the notebook and the cell; its partly executed copy goes to
   ``_build/failed/`` and nothing is written to the stage as if it succeeded.
3. plotly.js is copied from the installed plotly package into ``_static/`` (Jupyter Book
   loads every ``_static/*.js`` on every page), so figures are interactive offline.
4. ``jupyter-book build`` runs on the staged source with execution off and warnings as
   errors, writing the HTML to ``_build/html``.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import nbformat
import yaml

from . import provenance
from .paths import BUILD, ROOT, STAGE

PRESETS = ROOT / "presets"
KEY_FIELD = "l2m_build"  # notebook metadata recording what an executed copy was made from
WIDGET_MIMETYPE = "application/vnd.jupyter.widget-view+json"  # an ipywidget's output (tqdm's bars in a kernel)
PLOTLY_MIMETYPE = "application/vnd.plotly.v1+json"


class BuildError(RuntimeError):
    """A build step failed; the message says which notebook, cell or command."""


def toc_files(toc_path: Path = ROOT / "_toc.yml") -> list[str]:
    """Every ``file:`` entry of the table of contents, in reading order (without extension)."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "file" in node:
                found.append(node["file"])
            if "root" in node:
                found.append(node["root"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(yaml.safe_load(toc_path.read_text()))
    return found


def chapter_notebooks(root: Path = ROOT) -> list[Path]:
    """The notebooks of the table of contents, as paths relative to the repository."""
    return [Path(f + ".ipynb") for f in toc_files(root / "_toc.yml") if (root / f"{f}.ipynb").exists()]


def load_preset(name: str, notebooks: list[Path], presets: Path = PRESETS) -> dict[str, dict]:
    """Parameters per notebook name from ``presets/<name>.yml``; unknown names are errors."""
    path = presets / f"{name}.yml"
    if not path.exists():
        choices = ", ".join(sorted(p.stem for p in presets.glob("*.yml")))
        raise BuildError(f"unknown preset {name!r}: the presets are {choices}")
    preset = yaml.safe_load(path.read_text()) or {}
    stems = {nb.stem for nb in notebooks}
    unknown = sorted(set(preset) - stems)
    if unknown:
        raise BuildError(f"{path.name} names {unknown[0]!r}, which is not a chapter in _toc.yml ({', '.join(sorted(stems))})")
    return {stem: preset.get(stem) or {} for stem in stems}


def has_parameter(notebook: Path, name: str) -> bool:
    """Whether the notebook's papermill ``parameters`` cell assigns ``name`` (papermill's own reading of it)."""
    import papermill

    return name in papermill.inspect_notebook(str(notebook))


def package_digest(root: Path = ROOT) -> str:
    """sha256 of the package source and the pinned requirements: what a chapter's output depends on
    besides its notebook and parameters."""
    digest = hashlib.sha256()
    for path in sorted((root / "lib" / "l2m").rglob("*.py")) + [root / "requirements.txt"]:
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def execution_key(notebook: Path, parameters: dict, code: str) -> str:
    digest = hashlib.sha256(notebook.read_bytes())
    digest.update(json.dumps(parameters, sort_keys=True).encode())
    digest.update(code.encode())
    return digest.hexdigest()


def copy_if_changed(source: Path, target: Path) -> None:
    """Copy keeping the target's mtime when the bytes are equal, so Sphinx rebuilds nothing."""
    if target.exists() and target.read_bytes() == source.read_bytes():
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(source, target)


def stage_sources(root: Path = ROOT, stage: Path = STAGE) -> None:
    """Copy config, table of contents, pages (everything under book/ but notebooks) and plotly.js."""
    import plotly

    for name in ("_config.yml", "_toc.yml"):
        copy_if_changed(root / name, stage / name)
    for path in (root / "book").rglob("*"):
        if path.is_file() and path.suffix != ".ipynb" and ".ipynb_checkpoints" not in path.parts:
            copy_if_changed(path, stage / path.relative_to(root))
    plotly_js = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    copy_if_changed(plotly_js, stage / "_static" / "plotly.min.js")


def execute_notebook(notebook: Path, parameters: dict, key: str, root: Path = ROOT, stage: Path = STAGE,
                     preset: str = "default") -> None:
    """Run one chapter with papermill into the stage; on failure raise naming the notebook and cell. The executed
    copy carries its provenance (:mod:`l2m.provenance`) in its metadata and in a box under its title."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    target = stage / notebook
    partial = stage.parent / "failed" / notebook.name
    partial.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    try:
        papermill.execute_notebook(
            str(root / notebook), str(partial), parameters=parameters,
            cwd=str((root / notebook).parent), progress_bar=False, log_output=False,
        )
    except PapermillExecutionError as error:
        raise BuildError(
            f"{notebook} failed in cell {error.cell_index} (In [{error.exec_count}]): "
            f"{error.ename}: {error.evalue}\n  partly executed copy: {partial}"
        ) from None
    executed = drop_progress_widgets(drop_plotly_mimetype(nbformat.read(partial, as_version=4)))
    executed.metadata[KEY_FIELD] = {"key": key, "parameters": parameters}
    made = provenance.record(preset, root / notebook, parameters, time.perf_counter() - start, root)
    executed.metadata[provenance.KEY] = made
    box = nbformat.v4.new_markdown_cell(provenance.page_markdown(made), id="l2m-provenance")
    box.metadata["tags"] = [provenance.CELL_TAG]
    title_first = bool(executed.cells) and executed.cells[0].cell_type == "markdown"
    executed.cells.insert(1 if title_first else 0, box)  # under the chapter's title cell
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".ipynb.tmp")
    nbformat.write(executed, tmp)
    os.replace(tmp, target)  # the stage only ever holds complete, successful executions
    partial.unlink()


def drop_plotly_mimetype(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Remove Plotly's own mime type where the output also has the book's text/html copy.

    Jupyter Book cannot render ``application/vnd.plotly.v1+json`` and warns about it (a warning
    fails the build); the text/html copy made by :mod:`l2m.plots` is what the page shows. A figure
    glued with MyST-NB carries both under glue's prefix (``application/papermill.record/``).
    """
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            prefix = output.get("metadata", {}).get("scrapbook", {}).get("mime_prefix", "")
            if prefix + "text/html" in data:
                data.pop(prefix + PLOTLY_MIMETYPE, None)
    return notebook


def drop_progress_widgets(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Remove ipywidgets outputs (tqdm's progress bars, with ipywidgets installed) and the notebook's widget state.

    The book has no widgets of its own, and a page holding widget state makes MyST-NB load require.js and
    the widget manager from a CDN: readers may have no internet, and the browser check fails such a page.
    """
    for cell in notebook.cells:
        if "outputs" in cell:
            cell["outputs"] = [o for o in cell["outputs"] if WIDGET_MIMETYPE not in o.get("data", {})]
    notebook.metadata.pop("widgets", None)
    return notebook


def is_current(target: Path, key: str) -> bool:
    if not target.exists():
        return False
    try:
        return nbformat.read(target, as_version=4).metadata.get(KEY_FIELD, {}).get("key") == key
    except Exception:  # an unreadable copy is simply rebuilt
        return False


def execute_chapters(preset: str, root: Path = ROOT, stage: Path = STAGE, force: bool = False) -> list[Path]:
    """Execute every out-of-date chapter; returns the notebooks that were executed."""
    notebooks = chapter_notebooks(root)
    parameters = load_preset(preset, notebooks, root / "presets")
    code = package_digest(root)
    ran = []
    for notebook in notebooks:
        params = parameters[notebook.stem]
        if "preset" not in params and has_parameter(root / notebook, "preset"):  # chapter 04: its yml section
            params = params | {"preset": preset}  # feeds python -m l2m.train, whose TrainConfig has no preset
        key = execution_key(root / notebook, params, code)
        if not force and is_current(stage / notebook, key):
            print(f"[book] {notebook}: up to date", flush=True)
            continue
        print(f"[book] {notebook}: executing with {params or 'its defaults'}", flush=True)
        start = time.perf_counter()
        execute_notebook(notebook, params, key, root, stage, preset)
        print(f"[book] {notebook}: done in {time.perf_counter() - start:.0f} s", flush=True)
        ran.append(notebook)
    return ran


RECORD_PAGE = Path("book") / "build-record.md"  # included by the introduction


def write_build_record(root: Path = ROOT, stage: Path = STAGE) -> Path:
    """The introduction's table of every staged chapter's provenance and the whole build's time."""
    records = {}
    for notebook in chapter_notebooks(root):
        if (stage / notebook).exists():
            executed = nbformat.read(stage / notebook, as_version=4)
            title = next((c.source.splitlines()[0].lstrip("# ") for c in executed.cells if c.cell_type == "markdown"),
                         notebook.stem)
            if provenance.KEY in executed.metadata:
                records[title] = executed.metadata[provenance.KEY]
    target = stage / RECORD_PAGE
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(provenance.book_table(records) if records else "No chapter has been executed yet.\n")
    return target


def jupyter_book(stage: Path = STAGE, output: Path = ROOT) -> None:
    """Jupyter Book on the staged source, execution off (set in _config.yml), warnings as errors."""
    command = [str(Path(sys.executable).parent / "jupyter-book"), "build", str(stage),
               "--path-output", str(output), "-W", "-n", "--keep-going", "--quiet"]
    result = subprocess.run(command, cwd=output)
    if result.returncode != 0:
        raise BuildError("jupyter-book build failed (warnings are errors); the lines above name the page")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m l2m.build", description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="default", help="presets/<name>.yml (quick, default, paper, ...)")
    parser.add_argument("--force", action="store_true", help="re-execute every chapter")
    parser.add_argument("--check-figures", action="store_true", help="then check the figures in headless Chromium")
    args = parser.parse_args(argv)
    # the kernel papermill starts must be this interpreter's, with l2m importable
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    start = time.perf_counter()
    try:
        stage_sources()
        execute_chapters(args.preset, force=args.force)
        write_build_record()
        jupyter_book()
        if args.check_figures:
            from .figcheck import check_book  # playwright and bs4 only when asked

            problems = check_book(BUILD / "html", STAGE)
            if problems:
                raise BuildError("figure and math check failed:\n  " + "\n  ".join(problems))
    except BuildError as error:
        print(f"[book] FAILED: {error}", file=sys.stderr)
        return 1
    print(f"[book] built {BUILD / 'html' / 'index.html'} in {time.perf_counter() - start:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
