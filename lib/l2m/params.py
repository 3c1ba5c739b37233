"""Validation of chapter parameters: the one helper every notebook calls first.

A chapter's papermill ``parameters`` cell holds flat values; the next cell turns them into a
frozen dataclass with :func:`validate`. Each field of that dataclass carries its rule in
``metadata["rule"]`` (built with :func:`between`, :func:`one_of`, ...). A bad value stops the
notebook with a :class:`ParameterError` whose whole traceback is one line naming the allowed
values, before any work is done or anything is written.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence


class BookError(Exception):
    """An error a chapter shows as one line, ``Name: message``, instead of a stack.

    IPython shows ``_render_traceback_`` instead of the stack, so papermill and the reader see a
    single line. The package's errors that a reader may meet in a chapter subclass it (with
    ValueError or RuntimeError beside it, so callers catch them as before).
    """

    def _render_traceback_(self) -> list[str]:
        return [f"{type(self).__name__}: {self}"]


class ParameterError(BookError, ValueError):
    """A notebook parameter outside its allowed values."""


@dataclass(frozen=True)
class Rule:
    """What a field accepts: ``check(value)`` returns the normalised value or raises ValueError."""

    check: Callable[[Any], Any]
    allowed: str  # human wording of the allowed values, used in the error message
    help: str = ""  # what the parameter means, with its unit


def _as_int(value: Any) -> int:
    # papermill passes `-p layers 3` as int, `-p layers 3.0` as float; bools are not numbers here
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
        raise ValueError
    return int(value)


def between(low: float, high: float, help: str = "", integer: bool = True) -> Rule:
    """An integer (or, with ``integer=False``, a finite number) in [low, high]."""

    def check(value: Any) -> Any:
        number = _as_int(value) if integer else float(value)
        if not (math.isfinite(number) and low <= number <= high):
            raise ValueError
        return number

    kind = "an integer" if integer else "a number"
    return Rule(check, f"{kind} from {low} to {high}", help)


def one_of(choices: Sequence[Any], help: str = "") -> Rule:
    """One of a fixed list of choices (strings, numbers or booleans)."""

    def check(value: Any) -> Any:
        for choice in choices:
            if value == choice and type(value) is type(choice):
                return choice
        raise ValueError

    return Rule(check, "one of " + ", ".join(repr(c) for c in choices), help)


def subset_of(choices: Sequence[Any], help: str = "") -> Rule:
    """A non-empty list whose items are all among ``choices``; returned as a tuple."""

    def check(value: Any) -> tuple:
        items = [value] if isinstance(value, str) else list(value)
        if not items or any(item not in choices for item in items):
            raise ValueError
        return tuple(items)

    return Rule(check, "a non-empty list drawn from " + ", ".join(repr(c) for c in choices), help)


def param(default: Any, rule: Rule) -> Any:
    """A dataclass field with a default and a validation rule."""
    return field(default=default, metadata={"rule": rule})


def validate(config_class: type, **values: Any) -> Any:
    """Build ``config_class`` from notebook parameters, checking each against its rule.

    Unknown names are refused too, so that a misspelt ``-p`` option is not silently ignored.
    Raises :class:`ParameterError` with one line naming the parameter and its allowed values.
    """
    fields = {f.name: f for f in dataclasses.fields(config_class)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ParameterError(
            f"unknown parameter {unknown[0]!r} for {config_class.__name__}; "
            f"the parameters are: {', '.join(fields)}"
        )
    checked = {}
    for name, value in values.items():
        rule: Rule = fields[name].metadata["rule"]
        try:
            checked[name] = rule.check(value)
        except (ValueError, TypeError):
            meaning = f" ({rule.help})" if rule.help else ""
            raise ParameterError(f"{name} = {value!r} is not allowed: use {rule.allowed}{meaning}") from None
    config = config_class(**checked)
    check_relations = getattr(config, "check", None)
    if check_relations is not None:
        try:
            check_relations()
        except ValueError as error:
            raise ParameterError(str(error)) from None
    return config
