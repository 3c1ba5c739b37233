"""The book build: presets, execution with papermill, skipping unchanged chapters, failures."""
import json
import textwrap
from pathlib import Path

import nbformat
import papermill
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from l2m import build

REPO = Path(__file__).resolve().parents[1]


def make_book(root: Path, body: str) -> None:
    """A one-chapter book: a parameters cell (x) and ``body``, which writes x to out.json."""
    (root / "book").mkdir(parents=True)
    (root / "lib" / "l2m").mkdir(parents=True)
    (root / "lib" / "l2m" / "mod.py").write_text("VERSION = 1\n")
    (root / "requirements.txt").write_text("numpy\n")
    (root / "presets").mkdir()
    (root / "presets" / "small.yml").write_text("ch:\n  x: 3\n")
    (root / "_toc.yml").write_text("format: jb-book\nroot: book/intro\nchapters:\n  - file: book/ch\n")
    (root / "book" / "intro.md").write_text("# Intro\n")
    params = new_code_cell("x = 1  # a number")
    params.metadata["tags"] = ["parameters"]
    nb = new_notebook(cells=[params, new_code_cell(textwrap.dedent(body))])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, root / "book" / "ch.ipynb")


def outputs_text(path: Path) -> str:
    nb = nbformat.read(path, as_version=4)
    return "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []))


def test_toc_and_presets():
    assert "book/03_gaussian" in build.toc_files()
    assert Path("book/03_gaussian.ipynb") in build.chapter_notebooks()
    notebooks = build.chapter_notebooks()
    for preset in ("quick", "default", "paper"):
        assert build.load_preset(preset, notebooks)["03_gaussian"]["layers"] >= 1
    with pytest.raises(build.BuildError, match="unknown preset 'huge': the presets are default, paper, quick"):
        build.load_preset("huge", notebooks)


def test_preset_naming_a_missing_chapter(tmp_path):
    (tmp_path / "bad.yml").write_text("99_nothing:\n  x: 1\n")
    with pytest.raises(build.BuildError, match="'99_nothing', which is not a chapter"):
        build.load_preset("bad", [Path("book/ch.ipynb")], tmp_path)


def test_execute_skip_rerun_and_fail(tmp_path):
    make_book(tmp_path, 'print(f"x is {x}")')
    stage = tmp_path / "_build" / "src"
    assert build.execute_chapters("small", root=tmp_path, stage=stage) == [Path("book/ch.ipynb")]
    executed = stage / "book" / "ch.ipynb"
    assert "x is 3" in outputs_text(executed)
    assert nbformat.read(executed, as_version=4).metadata["l2m_build"]["parameters"] == {"x": 3}
    # nothing changed: nothing runs
    assert build.execute_chapters("small", root=tmp_path, stage=stage) == []
    # package code changed: it runs again
    (tmp_path / "lib" / "l2m" / "mod.py").write_text("VERSION = 2\n")
    assert build.execute_chapters("small", root=tmp_path, stage=stage) == [Path("book/ch.ipynb")]
    # a raising notebook stops the build, names notebook and cell, and leaves the good copy alone
    (tmp_path / "presets" / "small.yml").write_text("ch:\n  x: 0\n")
    make_failing = nbformat.read(tmp_path / "book" / "ch.ipynb", as_version=4)
    make_failing.cells[1].source = "1 / x"
    nbformat.write(make_failing, tmp_path / "book" / "ch.ipynb")
    with pytest.raises(build.BuildError, match=r"book/ch.ipynb failed in cell 2 .*ZeroDivisionError"):
        build.execute_chapters("small", root=tmp_path, stage=stage)
    assert "x is 3" in outputs_text(executed)
    assert (tmp_path / "_build" / "failed" / "ch.ipynb").exists()


def test_every_executed_chapter_says_how_it_was_made(tmp_path):
    from l2m import provenance

    make_book(tmp_path, 'print(f"x is {x}")')
    stage = tmp_path / "_build" / "src"
    build.execute_chapters("small", root=tmp_path, stage=stage)
    executed = nbformat.read(stage / "book" / "ch.ipynb", as_version=4)
    made = executed.metadata[provenance.KEY]
    assert made["preset"] == "small" and made["changed_parameters"] == {"x": 3} and made["seconds"] > 0
    assert made["versions"]["torch"] and made["machine"]["cores"] >= 1
    assert made["revision"] == {"commit": "unknown (not a git checkout)", "clean": False}
    box = executed.cells[0]  # no title cell: the box comes first
    assert box.metadata["tags"] == [provenance.CELL_TAG] and "preset `small`" in box.source
    assert "`x = 3`" in box.source and "uncommitted changes" in box.source
    record = build.write_build_record(tmp_path, stage).read_text()
    assert "| `small` |" in record and "**all chapters**" in record


def test_a_preset_value_equal_to_the_default_is_not_a_change(tmp_path):
    from l2m import provenance

    make_book(tmp_path, "pass")
    assert provenance.changed_parameters(tmp_path / "book" / "ch.ipynb", {"x": 1}) == {}
    assert provenance.changed_parameters(tmp_path / "book" / "ch.ipynb", {"x": 2}) == {"x": 2}


def test_drop_plotly_mimetype_keeps_html():
    nb = new_notebook(cells=[new_code_cell("fig")])
    nb.cells[0].outputs = [nbformat.v4.new_output("display_data", data={
        build.PLOTLY_MIMETYPE: {"data": []}, "text/html": "<div></div>"})]
    data = build.drop_plotly_mimetype(nb).cells[0].outputs[0]["data"]
    assert list(data) == ["text/html"]


def test_chapter_03_bad_parameter_is_one_clear_line(tmp_path):
    with pytest.raises(papermill.PapermillExecutionError) as error:
        papermill.execute_notebook(str(REPO / "book" / "03_gaussian.ipynb"), str(tmp_path / "out.ipynb"),
                                   parameters={"layers": 0}, progress_bar=False, cwd=str(REPO / "book"))
    assert error.value.ename == "ParameterError"
    assert error.value.evalue == "layers = 0 is not allowed: use an integer from 1 to 7 (largest layer l of the scans; L = 4**l tokens)"
    assert error.value.traceback == [f"ParameterError: {error.value.evalue}"]


def test_committed_notebooks_have_no_outputs():
    for path in (REPO / "book").glob("*.ipynb"):
        nb = json.loads(path.read_text())
        for cell in nb["cells"]:
            assert not cell.get("outputs") and cell.get("execution_count") is None, f"{path.name} has outputs"
        tagged = [c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", [])]
        assert len(tagged) == 1, f"{path.name} needs exactly one parameters cell"


def test_package_digest_covers_the_package_and_the_requirements(tmp_path):
    make_book(tmp_path, "pass")
    first = build.package_digest(tmp_path)
    (tmp_path / "lib" / "l2m" / "mod.py").write_text("VERSION = 2\n")
    second = build.package_digest(tmp_path)
    (tmp_path / "requirements.txt").write_text("numpy==2.0\n")
    assert len({first, second, build.package_digest(tmp_path)}) == 3


def test_the_build_passes_its_preset_to_a_chapter_that_has_the_parameter(tmp_path):
    make_book(tmp_path, 'print(f"x is {x}, preset {preset}")')
    nb = nbformat.read(tmp_path / "book" / "ch.ipynb", as_version=4)
    nb.cells[0].source = 'x = 1  # a number\npreset = "default"  # the preset this page is built at'
    nbformat.write(nb, tmp_path / "book" / "ch.ipynb")
    assert build.has_parameter(tmp_path / "book" / "ch.ipynb", "preset")
    assert not build.has_parameter(tmp_path / "book" / "ch.ipynb", "layers")
    stage = tmp_path / "_build" / "src"
    build.execute_chapters("small", root=tmp_path, stage=stage)  # small.yml sets x only, as chapter 04's section
    assert "x is 3, preset small" in outputs_text(stage / "book" / "ch.ipynb")
