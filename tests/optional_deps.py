"""Optional dependencies in tests: a missing one skips its tests, or fails them under the strict switch.

A developer without an extra (or without Chromium, or actionlint) gets skips that say what to install. CI sets
`TTS_STRICT_DEPS=1` (`.ci/run`, the workflows; `./dev.sh` then installs every extra or stops), and there a
missing dependency fails instead of quietly turning its tests into skips.

    from optional_deps import require, needs, missing
    loadgen = require("mlperf_loadgen")               # instead of pytest.importorskip
    needs_piper = needs(PiperOnnxEngine.available())  # a skipif mark from a "what is missing" line (None: nothing)
    missing("Chromium is not installed; ...")         # inside a test or fixture

Used at a module's top (`require`, `needs`), the strict failure is a collection error naming what is missing,
which stops the run before any test: the install is broken, and nothing after it would mean much.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType
from typing import NoReturn

import pytest

STRICT_ENV = "TTS_STRICT_DEPS"  # the one name; dev.sh, .ci/run, the workflows and the README use the same
EXTRAS_HINT = "pip install -e '.[<extra>]' with the extra of pyproject.toml that lists it (./dev.sh installs them all)"


def strict() -> bool:
    """True when `TTS_STRICT_DEPS` is set to anything but empty or 0 (CI)."""
    return os.environ.get(STRICT_ENV, "").strip() not in ("", "0")


def missing(reason: str) -> NoReturn:
    """Skip the current test (or module, at its top) because of `reason`; under the strict switch, fail."""
    __tracebackhide__ = True  # the skip or failure is reported at the test's line, not here
    if strict():
        pytest.fail(f"{reason} [{STRICT_ENV}=1: a missing dependency fails instead of skipping]", pytrace=False)
    pytest.skip(reason, allow_module_level=True)


def require(module: str, reason: str | None = None) -> ModuleType:
    """Import `module`, or skip (strict: fail) saying what is missing: `pytest.importorskip` with a strict mode."""
    __tracebackhide__ = True
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        missing(reason or f"{module} is not installed ({exc}); {EXTRAS_HINT}")


def needs(problem: str | None) -> pytest.MarkDecorator:
    """A skipif mark for tests that need what `problem` says is missing (None: nothing is).

    Under the strict switch a problem fails here, at collection, instead of marking anything."""
    __tracebackhide__ = True
    if problem is not None and strict():
        missing(problem)
    return pytest.mark.skipif(problem is not None, reason=str(problem))
