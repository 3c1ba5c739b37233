"""Chapter 06 reads chapter 05's GPT2 runs at every preset, so the build trains no run twice."""
from pathlib import Path

import pytest
import yaml

from l2m import chapters, runs
from l2m.params import validate

ROOT = Path(__file__).resolve().parents[1]
PRESETS = sorted((ROOT / "presets").glob("*.yml"))


def config(cls, section: dict, keep=()):
    import dataclasses

    names = {f.name for f in dataclasses.fields(cls)}
    values = {k: v for k, v in section.items() if k in names and (not keep or k in keep)}
    return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})


@pytest.mark.parametrize("preset", PRESETS, ids=[p.stem for p in PRESETS])
def test_gain_runs_are_chapter_05_runs(preset):
    sections = yaml.safe_load(preset.read_text())
    ch05 = config(chapters.L2MChapter, sections.get("05_l2m") or {}, keep=("grid", "size", "channels", "steps",
                  "batch", "tokens_per_step", "lr", "warmup", "eval_sequences", "seed", "device", "dtype"))
    ch06 = config(chapters.EstimatorsChapter, sections.get("06_estimators") or {}, keep=(
        "gain_grid", "gain_channels", "gain_steps", "gain_lr", "gain_warmup", "gain_eval_sequences",
        "gain_tokens_per_step", "seed"))
    of_05 = [runs.identity(p) for p in ch05.points()]
    missing = [p for p in ch06.gain_points() if runs.identity(p) not in of_05]
    assert not missing, f"{preset.name}: chapter 06's gain runs that chapter 05 does not train: {missing}"


def test_chapter_defaults_validate():
    cfg = validate(chapters.EstimatorsChapter)
    assert all(p["arch"] == "gpt2" for p in cfg.gain_points())
