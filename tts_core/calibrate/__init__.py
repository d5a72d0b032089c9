"""The calibration as its own step: read a stored choice in this process, measure a new one in a child process.

`calibration_for` is what `Engine.load` calls for a tier with "auto" switches. The measuring itself is
`tts_core.calibrate.measure`; this package decides where it runs. A stored, valid calibration is read here
(milliseconds). Otherwise a spawned child loads the voice by name, measures, stores the result and exits, so the
candidates, oneDNN's kernel caches and the heap they fragmented leave with it: the process that serves keeps the
RSS of one that read a stored choice. Where no child can rebuild what this process holds (a voice passed in memory,
a custom front-end, or `TTS_CORE_CALIBRATE_IN_PROCESS=1`), it measures here and then releases what it can.
`python -m tts_core.calibrate` runs the step alone (see `__main__.py`).
"""

from __future__ import annotations

import logging
from typing import Any

import torch

from tts_core.calibrate import child
from tts_core.calibrate.stored import read_stored, stored_path
from tts_core.constants import calibrate_in_process_requested
from tts_core.tiers import TierConfig

log = logging.getLogger("tts_core")

__all__ = ["calibration_for", "child_usable", "read_stored", "stored_path"]


def child_usable(voice: Any, frontend: Any) -> str | None:
    """None when a child process can rebuild `voice` and `frontend` by itself (a voice loaded by name, the espeak
    front-end); else why not, in words."""
    from tts_core.text import TextFrontend

    if calibrate_in_process_requested():
        return "TTS_CORE_CALIBRATE_IN_PROCESS is set"
    if voice.load_info.get("loaded_by") != "name":
        return f"the voice {voice.name!r} was passed in memory, not loaded by name"
    if type(frontend) is not TextFrontend:
        return f"a custom front-end ({type(frontend).__name__}) is in use"
    return None


def calibration_for(voice: Any, frontend: Any, dev: torch.device, tier: TierConfig,
                    budget_s: float | None = None) -> dict[str, Any]:
    """The calibration of `tier`'s "auto" switches for `voice` on `dev`: the dict `tts_core.calibrate.measure.calibrate`
    returns (`choices`, `measurements`, `cached`, `seconds` of measuring, ...). Stored -> read here; otherwise
    measured in a child process (this process's threads, timeout the calibration budget plus `CHILD_MARGIN_S`
    seconds), or here when no child can be used. `budget_s`: the seconds the measuring may spend (None:
    `measure.BUDGET_S`).
    Raises `CalibrationError` when the child fails, dies or times out."""
    from tts_core.calibrate import measure as measuring

    stored = read_stored(voice, dev, tier)
    if stored is not None:
        return stored
    why_not = child_usable(voice, frontend)
    if why_not is None:
        return child.run_in_child(voice.name, dev, tier, measuring.BUDGET_S if budget_s is None else budget_s)
    from tts_core.runtime import release_memory

    log.info("calibrating in this process (%s): its candidates' memory stays partly behind; a voice loaded by name "
             "is calibrated in a child process instead", why_not)
    result = measuring.calibrate(voice, frontend, dev, tier, budget_s=budget_s)
    freed = release_memory(str(dev))
    log.info("calibration in process: released %.0f MB (RSS now %.0f MB)", freed["freed_mb"], freed["rss_after_mb"])
    return result
