"""Each chapter's parameters cell, its config class and presets/default.yml agree where they overlap.

The cell's values are the class's defaults (a reader running the chapter plainly gets what the class
documents); every class field is a parameter of the cell, so ``papermill -p`` reaches it; and every
name a preset sets is a parameter, with a value the class accepts.
"""
from __future__ import annotations

import ast
import dataclasses
import importlib
import json
import re
from pathlib import Path

import pytest
import yaml

from l2m.params import validate

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "book").glob("0*.ipynb"))
PRESETS = sorted((ROOT / "presets").glob("*.yml"))


def parameters_cell(notebook: Path) -> tuple[str, str]:
    """The source of the cell tagged ``parameters`` and of every code cell, joined."""
    cells = json.loads(notebook.read_text())["cells"]
    cell = next(c for c in cells if "parameters" in c["metadata"].get("tags", []))
    return "".join(cell["source"]), "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")


class Configs:
    """The config classes a chapter validates its parameters into (chapter 04 has two: its run's TrainConfig and
    the page's preset, which must stay out of the run's key), read as one."""

    def __init__(self, classes: list[type]) -> None:
        self.classes = classes
        self.__name__ = " + ".join(c.__name__ for c in classes)


def fields_of(configs: Configs) -> dict:
    return {f.name: f.default for c in configs.classes for f in dataclasses.fields(c)}


def chapter(notebook: Path) -> tuple[dict, Configs]:
    """(the parameters cell's values, the config classes the next cells validate them into)."""
    source, code = parameters_cell(notebook)
    values: dict = {}
    exec(compile(source, str(notebook), "exec"), {}, values)  # flat values and literals, nothing else
    found = re.findall(r"validate\((\w+)\.(\w+)", code)
    return values, Configs([getattr(importlib.import_module(f"l2m.{module}"), name) for module, name in found])


def plain(value):
    return list(value) if isinstance(value, tuple) else value


@pytest.mark.parametrize("notebook", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_cell_values_are_the_config_defaults(notebook: Path) -> None:
    values, config_class = chapter(notebook)
    fields = fields_of(config_class)
    assert set(fields) <= set(values), f"{notebook.name}: fields without a parameter: {sorted(set(fields) - set(values))}"
    helpers = set(values) - set(fields)  # allowed only as parts of another parameter's value (chapter 05's `small`)
    used = {n.id for n in ast.walk(ast.parse(parameters_cell(notebook)[0])) if isinstance(n, ast.Name)
            and isinstance(n.ctx, ast.Load)}
    assert helpers <= used, f"{notebook.name}: parameters the config does not know: {sorted(helpers - used)}"
    differ = {k: (values[k], v) for k, v in fields.items() if plain(values[k]) != plain(v)}
    assert not differ, f"{notebook.name}: parameters cell against {config_class.__name__} defaults: {differ}"


@pytest.mark.parametrize("preset", PRESETS, ids=[p.stem for p in PRESETS])
def test_presets_set_only_parameters_the_config_accepts(preset: Path) -> None:
    sections = yaml.safe_load(preset.read_text()) or {}
    for notebook in CHAPTERS:
        section = sections.get(notebook.stem) or {}
        values, config_class = chapter(notebook)
        assert set(section) <= set(values), f"{preset.name}: {notebook.stem} has no parameter {sorted(set(section) - set(values))}"
        if preset.stem == "paper":  # names models this CPU machine does not hold: only the names are checked
            continue
        for one in config_class.classes:
            validate(one, **{k: v for k, v in (values | section).items() if k in {f.name for f in dataclasses.fields(one)}})


MY_CHAPTERS = CHAPTERS  # every chapter names its preset


@pytest.mark.parametrize("notebook", MY_CHAPTERS, ids=[p.stem for p in MY_CHAPTERS])
def test_every_preset_names_itself(notebook: Path) -> None:
    """The claims table's verdict column reads "verdict at <preset>": each preset file sets its own name (chapter
    04's section excepted: the build passes it, since python -m l2m.train reads that section into TrainConfig)."""
    from l2m import build

    values, _ = chapter(notebook)
    assert values["preset"] == "default" and build.has_parameter(notebook, "preset")
    for preset in PRESETS:
        section = (yaml.safe_load(preset.read_text()) or {}).get(notebook.stem) or {}
        assert section.get("preset", preset.stem if notebook.stem == "04_train" else None) == preset.stem, preset.name
