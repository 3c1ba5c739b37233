"""l2m.sweep and chapter 05's parameters: the grid expands to complete chapter-04 runs, and the sweep
executes chapter 04 through papermill once per unfinished run, then reuses it."""
import pytest

from l2m import condition, sweep, train
from l2m.params import ParameterError, validate

SHARED = {"size": "tiny", "channels": 2, "steps": 150, "warmup": 10, "eval_sequences": 8, "device": "cpu"}


def test_grid_multiplies_lists_and_fills_every_parameter():
    grid = [{"arch": ["gpt2", "mamba2"], "layers": [1, 2]}, {"arch": "mamba", "layers": 2, "position_embedding": [True, False]}]
    points = sweep.expand(grid, SHARED, tokens_per_step=64)
    assert [(p["arch"], p["layers"], p["position_embedding"]) for p in points] == [
        ("gpt2", 1, True), ("gpt2", 2, True), ("mamba2", 1, True), ("mamba2", 2, True),
        ("mamba", 2, True), ("mamba", 2, False)]
    assert [p["batch"] for p in points[:2]] == [16, 4]  # tokens_per_step / L with L = 4, 16
    assert all(set(p) == set(sweep.GRID_KEYS) for p in points)  # complete: the notebook's defaults never matter
    assert all(p["seq_len"] == 4 ** p["layers"] for p in points)


def test_an_entry_may_set_its_own_batch_and_steps():
    (point,) = sweep.expand([{"arch": "gpt2", "layers": 3, "batch": 5, "steps": 17}], SHARED, tokens_per_step=1024)
    assert (point["batch"], point["steps"], point["seq_len"]) == (5, 17, 64)


def test_the_same_run_named_twice_trains_once():
    # GPT2 always has its position table: position_embedding does not change its run
    points = sweep.expand([{"arch": "gpt2", "layers": 2, "position_embedding": [True, False]}], SHARED)
    assert len(points) == 1


@pytest.mark.parametrize("grid, message", [
    ([{"arch": "rwkv", "layers": 2}], "grid entry 0"),
    ([{"arch": "gpt2"}, {"arch": "mamba", "layers": 9}], "grid entry 1"),
    ([{"arch": "gpt2", "colour": "red"}], "not a chapter-04 parameter"),
    ([{"arch": []}], "empty list"),
    ({"arch": "gpt2"}, "non-empty list of dicts"),
    ([["gpt2"]], "non-empty list of dicts"),
])
def test_a_bad_grid_is_one_clear_error(grid, message):
    with pytest.raises(ParameterError, match=message):
        validate(condition.L2MChapter, grid=grid)


def test_the_default_grid_is_valid_and_has_the_position_control():
    points = validate(condition.L2MChapter).points()
    mamba = {(p["seq_len"], p["position_embedding"]) for p in points if p["arch"] == "mamba" and p["task"] == "gaussian"}
    lengths = {p["seq_len"] for p in points if p["task"] == "gaussian"}
    assert mamba == {(L, pe) for L in lengths for pe in (True, False)}  # Mamba with and without, at every L
    assert {p["task"] for p in points} == {"gaussian", "text"}


def test_sweep_executes_chapter_04_once_per_run_then_reuses_it(tmp_path, monkeypatch):
    monkeypatch.setenv("L2M_CACHE", str(tmp_path / "cache"))  # the papermill kernels inherit it
    points = sweep.expand([{"arch": ["gpt2", "mamba"], "layers": 2}], SHARED, tokens_per_step=256)
    runs = sweep.execute(points, tmp_path / "notebooks", progress=False, workers=2)  # two papermill processes
    executed = sorted(p.name for p in (tmp_path / "notebooks").glob("*.ipynb"))
    assert executed == sorted(f"{sweep.run_folder(p).name}.ipynb" for p in points)
    assert [r.config.arch for r in runs] == ["gpt2", "mamba"] and all(r.metrics["steps_this_call"] == 150 for r in runs)
    # the runs are the ones chapter 05 computes from the same parameters
    assert [r.folder for r in runs] == [train.default_run_dir(validate(train.TrainConfig, **p)) for p in points]
    stamps = [(tmp_path / "notebooks" / name).stat().st_mtime_ns for name in executed]
    again = sweep.execute(points, tmp_path / "notebooks", progress=False)
    assert [r.metrics for r in again] == [r.metrics for r in runs]
    assert [(tmp_path / "notebooks" / name).stat().st_mtime_ns for name in executed] == stamps  # nothing re-executed


def test_a_failing_run_stops_the_sweep_naming_it(tmp_path, monkeypatch):
    monkeypatch.setenv("L2M_CACHE", str(tmp_path / "cache"))
    # one step cannot beat the learned-nothing reference: chapter 04's own check fails
    (point,) = sweep.expand([{"arch": "gpt2", "layers": 2, "steps": 1, "warmup": 0}], SHARED)
    with pytest.raises(RuntimeError, match=r"chapter 04 failed for gpt2-tiny-gaussian-L16-\w+: .*AssertionError"):
        sweep.execute([point], tmp_path / "notebooks", progress=False)
    assert len(list((tmp_path / "notebooks").glob("*.partial.ipynb"))) == 1  # kept for the reader
    assert sweep.is_finished(point)  # training itself finished; only the chapter's check after it failed


@pytest.mark.parametrize("preset", ["quick", "default", "paper"])
def test_every_preset_names_a_valid_grid(preset):
    import yaml

    from l2m.build import PRESETS

    section = yaml.safe_load((PRESETS / f"{preset}.yml").read_text())["05_l2m"]
    points = validate(condition.L2MChapter, **section).points()
    gaussian = [p for p in points if p["task"] == "gaussian"]
    # the position control: every L with Mamba has Mamba both with and without the position embedding
    for L in {p["seq_len"] for p in gaussian if p["arch"] == "mamba"}:
        assert {p["position_embedding"] for p in gaussian if p["arch"] == "mamba" and p["seq_len"] == L} == {True, False}
    assert {p["arch"] for p in gaussian} == {"gpt2", "swa", "mamba", "mamba2"}
