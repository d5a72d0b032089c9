"""Errors the harness raises on purpose. Bad configuration is a `ValueError` that names the field."""

from __future__ import annotations


class BenchConfigError(ValueError):
    """A configuration field has a value outside its allowed set."""


class MeasurementError(RuntimeError):
    """A measurement could not be taken (the engine raised, or a result is unusable)."""


class WorkerFailure(MeasurementError):
    """A worker raised, died, ran out of time or memory; `reason` says which, `log_tail` shows its last words."""

    def __init__(self, reason: str, log_tail: str = "", traceback_text: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.log_tail = log_tail
        self.traceback = traceback_text


def bad_field(group: str, name: str, value: object, allowed: str) -> BenchConfigError:
    """The standard error for a bad field: names `group.name`, the value given and what is allowed."""
    return BenchConfigError(f"`{group}.{name}` = {value!r} is not allowed; expected {allowed}.")
