"""`DeadlineScheduler`: which stream's next chunk to make, earliest deadline first.

The policy (`deadline`, beside the dispatcher's `batch`): every stream advances one chunk per step, and the step
goes to the stream whose chunk is due soonest:

- a new stream's first chunk is due at its arrival + `first_audio_s` (the first-audio target);
- a playing stream's next chunk is due when its listener runs out of audio: playback starts when its first chunk
  is sent, so it is due at (first chunk sent) + (audio seconds sent so far);
- on a tie, first chunks go first, then streams in the order they came.

A cancelled stream is dropped before the next pick, so it stops between chunks. Times are seconds on the
scheduler's `clock` (`time.perf_counter` by default; tests pass a scripted one). A stream is a generator whose
every `next()` makes one chunk, hands it to its client and returns the chunk's audio seconds: its whole state
lives in the generator, and the scheduler needs no engine.
"""

from __future__ import annotations

import itertools
import logging
import time
from dataclasses import dataclass, field
from typing import Callable, Iterator, Optional

log = logging.getLogger(__name__)


def _never() -> bool:
    return False


@dataclass(eq=False)  # identity: the scheduler removes this very stream
class ScheduledStream:
    """One stream under the scheduler.

    - `steps`: each `next()` makes one chunk, delivers it and returns its audio seconds; ends after the last
      chunk (a stream delivers its own errors to its client and ends).
    - `arrived_s`: when the request came, seconds on the scheduler's clock.
    - `cancelled`: True once its client left; the stream is then closed between chunks.
    - `on_cancel`: called once when the scheduler drops it as cancelled (e.g. to count it).
    """

    steps: Iterator[float]
    arrived_s: float
    cancelled: Callable[[], bool] = _never
    on_cancel: Callable[[], None] = lambda: None
    first_sent_s: Optional[float] = None  # when its first chunk was sent (playback starts), s
    audio_sent_s: float = 0.0  # audio seconds sent so far
    order: int = field(default=0, compare=False)  # arrival order among the scheduler's streams

    def due_s(self, first_audio_s: float) -> float:
        """When this stream's next chunk is due, seconds on the scheduler's clock."""
        if self.first_sent_s is None:
            return self.arrived_s + first_audio_s
        return self.first_sent_s + self.audio_sent_s


class DeadlineScheduler:
    """Streams in progress; `step()` advances the one whose next chunk is due soonest by one chunk.

    `first_audio_s`: the first-audio target in seconds (a new stream's first chunk is due that long after it
    arrived). `clock`: seconds, monotonic. Used from one thread (the dispatcher's)."""

    def __init__(self, first_audio_s: float, clock: Callable[[], float] = time.perf_counter) -> None:
        if not first_audio_s >= 0:
            raise ValueError(f"`first_audio_s` = {first_audio_s!r}; expected seconds >= 0.")
        self.first_audio_s = first_audio_s
        self.clock = clock
        self._streams: list[ScheduledStream] = []
        self._count = itertools.count()

    def __len__(self) -> int:
        return len(self._streams)

    def add(self, stream: ScheduledStream) -> None:
        """Take `stream` in; its first chunk is due at `arrived_s + first_audio_s`."""
        stream.order = next(self._count)
        self._streams.append(stream)

    def _drop_cancelled(self) -> None:
        for stream in [s for s in self._streams if s.cancelled()]:
            self._streams.remove(stream)
            _close(stream)
            stream.on_cancel()

    def pick(self) -> Optional[ScheduledStream]:
        """The stream whose next chunk is due soonest (first chunks first on a tie, then arrival order), after
        dropping cancelled streams; None when no stream is left."""
        self._drop_cancelled()
        if not self._streams:
            return None
        return min(self._streams, key=lambda s: (s.due_s(self.first_audio_s), s.first_sent_s is not None, s.order))

    def step(self) -> Optional[ScheduledStream]:
        """Make the next chunk of the stream `pick` chooses; returns that stream (None when none is left). A stream
        that ended, or whose step raised (logged: a stream should deliver its own errors), leaves the scheduler."""
        stream = self.pick()
        if stream is None:
            return None
        try:
            seconds = next(stream.steps)
        except StopIteration:
            self._streams.remove(stream)
            return stream
        except Exception:  # noqa: BLE001 - one stream's failure must not stop the others
            log.exception("a stream's step raised; the stream is dropped")
            self._streams.remove(stream)
            return stream
        if stream.first_sent_s is None:
            stream.first_sent_s = self.clock()
        stream.audio_sent_s += seconds
        return stream

    def close(self) -> None:
        """Close every stream in progress (their generators' `finally` runs)."""
        for stream in self._streams:
            _close(stream)
        self._streams.clear()


def _close(stream: ScheduledStream) -> None:
    close = getattr(stream.steps, "close", None)
    if close is not None:
        close()
