"""A simulated listener per stream: playback starts when the first chunk arrives and plays in real time; an underrun
is playback reaching audio not yet received. The player then waits for the chunk (a stall) and plays on from there,
so one late chunk counts once, not again for every chunk after it. Seconds throughout."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence


@dataclass(frozen=True)
class Playback:
    """One stream as a listener heard it."""

    underruns: int  # times playback reached audio not yet received
    stall_s: float  # seconds playback waited, in all
    start_s: float | None  # when playback started (the first chunk's arrival), on the arrivals' clock

    @property
    def clean(self) -> bool:
        return self.underruns == 0


def listen(arrivals_s: Sequence[float], durations_s: Sequence[float]) -> Playback:
    """Play chunks that arrive at `arrivals_s` (ascending, any common clock) and last `durations_s` seconds each."""
    if len(arrivals_s) != len(durations_s):
        raise ValueError(f"listen: {len(arrivals_s)} arrivals but {len(durations_s)} durations; give one of each per chunk.")
    if not arrivals_s:
        return Playback(0, 0.0, None)
    clock, underruns, stall = float(arrivals_s[0]), 0, 0.0  # clock: when the audio received so far runs out
    for i in range(1, len(arrivals_s)):
        clock += float(durations_s[i - 1])
        late = float(arrivals_s[i]) - clock
        if late > 0:
            underruns += 1
            stall += late
            clock = float(arrivals_s[i])
    return Playback(underruns, stall, float(arrivals_s[0]))
