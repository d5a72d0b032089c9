"""Exceptions raised by the engine. Bad input raises a `ValueError` subclass that says what to do."""

from __future__ import annotations


class TTSError(Exception):
    """Base class of every error the engine raises on purpose."""


class TextError(TTSError, ValueError):
    """The text given to the engine cannot be spoken as it is."""


class EmptyTextError(TextError):
    """The text is empty or only whitespace."""


class UnspeakableTextError(TextError):
    """The text holds nothing the voice can pronounce (only punctuation, emoji, control characters...)."""


class InputFileError(TTSError, ValueError):
    """A text file is missing, unreadable, not UTF-8, or too large."""


class ConfigError(TTSError, ValueError):
    """A configuration field has a value outside its allowed set."""


class VoiceError(TTSError, ValueError):
    """A voice name is unknown or its files are missing or broken."""


class CalibrationError(TTSError, RuntimeError):
    """The calibration's child process failed, died or ran past its time; the message says how to rerun it alone."""


class MemoryLimitError(TTSError, MemoryError):
    """A job would exceed the configured memory limit; chunk it or raise the limit."""


def bad_field(owner: str, field: str, value: object, allowed: str) -> ConfigError:
    """Build the standard error for a config field: names the field, the value and what is allowed."""
    return ConfigError(f"{owner}: `{field}` = {value!r} is not allowed; expected {allowed}.")
