"""Every measured number in a chapter's text is glued from the computation, never typed.

A decimal number in a markdown cell must sit inside a MyST-NB ``{glue:...}`` role, be part of a
reference to the paper (``Sec. 4.4``, ``eq. B.5``, ``Table F.1``, ``Appx. A.II``), or be one of the
few definitions listed in :data:`ALLOWED` (constants of a formula, not measurements).
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "book").glob("*.ipynb"))

GLUE = re.compile(r"\{glue(?::\w+)?\}`[^`]*`")  # {glue:text}`name:.3f`, {glue}`name`
REFERENCE = re.compile(r"\b(?:Sec|Secs|Fig|Figs|eq|eqs|Eq|Eqs|Table|Appx|Appendix|Thm|Def|Lemma)\.?\s+[A-Z]?\d+(?:\.\d+)*"
                       r"(?:\s*[–-]\s*[A-Z]?\d+(?:\.\d+)*)?")
LINK_OR_CODE = re.compile(r"`[^`]*`|\]\([^)]*\)|https?://\S+")  # inline code, link targets (2503.04725)
DECIMAL = re.compile(r"(?<![\w.])\d*\.\d+(?![\w.])")

# Definitions, not measurements: a number here is part of a formula or a name, the same at every preset.
ALLOWED = {
    "1.x",  # Jupyter Book 1.x
    "LLaMA 3.1", "LLaMA-3.1",  # the model family's name (chapter 01)
}


def typed_decimals(text: str) -> list[str]:
    """Decimal numbers in ``text`` that are neither glued, nor a reference to the paper, nor allowed."""
    for pattern in (GLUE, LINK_OR_CODE, REFERENCE):
        text = pattern.sub(" ", text)
    for allowed in ALLOWED:
        text = text.replace(allowed, " ")
    return DECIMAL.findall(text)


def markdown_cells(notebook: Path) -> list[str]:
    cells = json.loads(notebook.read_text())["cells"]
    return ["".join(c["source"]) for c in cells if c["cell_type"] == "markdown"]


def test_the_rule_catches_typed_numbers_and_spares_glued_ones() -> None:
    assert typed_decimals("vCLUB gives β = 0.654 here") == ["0.654"]
    assert typed_decimals("β = {glue:text}`ch01-beta:.3f` (Sec. 4.4, eq. B.15, Table F.1)") == []
    assert typed_decimals("arXiv [link](https://arxiv.org/abs/2503.04725) and `lr = 1e-2`") == []
    assert typed_decimals("a fraction of .5 and 12.5 %") == [".5", "12.5"]


@pytest.mark.parametrize("notebook", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_no_typed_decimal_in_chapter_text(notebook: Path) -> None:
    found = {n for text in markdown_cells(notebook) for n in typed_decimals(text)}
    assert not found, (f"{notebook.name}: decimal numbers typed in the text ({', '.join(sorted(found))}): glue them "
                       f"from the cell that computes them, or read the paper's from l2m.paper")


@pytest.mark.parametrize("notebook", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_every_cell_has_its_own_id(notebook: Path) -> None:
    # nbformat 4.5 requires cell ids (a missing one is a warning today and an error in later nbformat)
    ids = [c.get("id") for c in json.loads(notebook.read_text())["cells"]]
    assert all(ids) and len(ids) == len(set(ids)), f"{notebook.name}: cells without an id, or ids used twice"


@pytest.mark.parametrize("notebook", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_papermill_reads_every_parameter(notebook: Path) -> None:
    # papermill skips a parameter line it cannot parse (an "=" inside its comment, say) with a warning only,
    # and `papermill -p name value` then silently fails to override it
    import ast

    from papermill.translators import PythonTranslator

    cell = next(c for c in json.loads(notebook.read_text())["cells"] if "parameters" in c["metadata"].get("tags", []))
    source = "".join(cell["source"])
    assigned = [t.id for node in ast.parse(source).body if isinstance(node, ast.Assign) for t in node.targets]
    assert len(assigned) == len(set(assigned)), f"{notebook.name}: a parameter is set twice"
    assert [p.name for p in PythonTranslator.inspect({"source": source})] == assigned


def test_the_position_blind_predictor_is_never_called_a_cap() -> None:
    # it is the best *linear* position-blind predictor: a recurrent model can count positions from BOS and go
    # below it (chapter 05's sweep shows it), so the book calls it a reference, never a cap a model cannot pass
    texts = {p.name: "\n".join(markdown_cells(p)) for p in CHAPTERS}
    texts |= {p.name: p.read_text() for p in (ROOT / "lib" / "l2m").glob("*.py")}
    texts["README.md"] = (ROOT / "README.md").read_text()
    wrong = re.compile(r"position-blind (?:linear )?cap|capped by (?:not knowing|position)|cannot go below", re.I)
    assert not {name for name, text in texts.items() if wrong.search(text)}
