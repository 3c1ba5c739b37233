"""The shared parameter validation every notebook calls first."""
from dataclasses import dataclass

import pytest

from l2m.params import ParameterError, between, one_of, param, subset_of, validate


@dataclass(frozen=True)
class Example:
    n_layer: int = param(2, between(1, 8, "layers"))
    lr: float = param(1e-3, between(0, 1, "learning rate", integer=False))
    arch: str = param("gpt2", one_of(["gpt2", "mamba", "mamba2"]))
    ratios: tuple = param((2,), subset_of([2, 3, 4]))

    def check(self):
        if self.arch == "mamba" and self.n_layer > 4:
            raise ValueError("mamba here takes at most 4 layers")


def test_defaults_and_normalisation():
    cfg = validate(Example, n_layer=3.0, ratios=[4, 2])
    assert cfg.n_layer == 3 and isinstance(cfg.n_layer, int) and cfg.ratios == (4, 2) and cfg.arch == "gpt2"


@pytest.mark.parametrize("name,value,message", [
    ("n_layer", 0, "n_layer = 0 is not allowed: use an integer from 1 to 8 (layers)"),
    ("n_layer", 2.5, "n_layer = 2.5 is not allowed"),
    ("n_layer", True, "n_layer = True is not allowed"),
    ("lr", float("nan"), "lr = nan is not allowed: use a number from 0 to 1"),
    ("arch", "rwkv", "arch = 'rwkv' is not allowed: use one of 'gpt2', 'mamba', 'mamba2'"),
    ("ratios", [5], "ratios = [5] is not allowed: use a non-empty list drawn from 2, 3, 4"),
    ("ratios", [], "ratios = [] is not allowed"),
])
def test_bad_values_name_the_allowed_ones(name, value, message):
    with pytest.raises(ParameterError) as error:
        validate(Example, **{name: value})
    assert str(error.value).startswith(message)


def test_unknown_name_and_relations():
    with pytest.raises(ParameterError, match="unknown parameter 'n_layers' .* n_layer, lr, arch, ratios"):
        validate(Example, n_layers=2)
    with pytest.raises(ParameterError, match="at most 4 layers"):
        validate(Example, arch="mamba", n_layer=6)


def test_traceback_is_one_line():
    error = ParameterError("x = 1 is not allowed")
    assert error._render_traceback_() == ["ParameterError: x = 1 is not allowed"]
