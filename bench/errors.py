"""Errors the harness raises on purpose. Bad configuration is a `ValueError` that names the field."""

from __future__ import annotations


class BenchConfigError(ValueError):
    """A configuration field has a value outside its allowed set."""


class MeasurementError(RuntimeError):
    """A measurement could not be taken (the engine raised, or a result is unusable)."""


def bad_field(group: str, name: str, value: object, allowed: str) -> BenchConfigError:
    """The standard error for a bad field: names `group.name`, the value given and what is allowed."""
    return BenchConfigError(f"`{group}.{name}` = {value!r} is not allowed; expected {allowed}.")
