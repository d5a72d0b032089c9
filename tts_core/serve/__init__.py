"""An OpenAI-compatible speech server for the engine: `python -m tts_core.serve --voice joe-medium --tier advanced`.

Needs the `server` extra (FastAPI, uvicorn, prometheus-client): `pip install -e ".[server]"`. Only this
package imports them, so the engine works without it. See docs/serving.md.
"""

from __future__ import annotations

from tts_core.serve.config import ServeConfig

__all__ = ["ServeConfig", "create_app"]


def __getattr__(name: str) -> object:
    if name == "create_app":  # imported on use, so `ServeConfig` needs no web framework
        from tts_core.serve.app import create_app

        return create_app
    raise AttributeError(name)
