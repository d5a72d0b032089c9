"""`ServeConfig`: every option of the speech server, validated, with its default in one place."""

from __future__ import annotations

from dataclasses import dataclass

from tts_core.errors import bad_field
from tts_core.runtime.dispatch import FIRST_AUDIO_S, POLICIES, BatchPolicy
from tts_core.tiers.build import batches_requests
from tts_core.tiers.config import TierConfig

LOG_LEVELS = ("critical", "error", "warning", "info", "debug")
RESPONSE_FORMATS = ("wav", "pcm")
# No mp3/opus/aac/flac encoder ships with the engine, so a request without `response_format` gets WAV
# (OpenAI's default is mp3): every player reads it, and it is the same PCM behind a 44-byte header.
DEFAULT_RESPONSE_FORMAT = "wav"
OPENAI_MAX_INPUT_CHARS = 4096  # OpenAI's limit on `input`
SPEED_RANGE = (0.25, 4.0)  # OpenAI's range of `speed`
RETRY_AFTER_S = 1  # what a 429 (full queue) or 503 (still loading) asks the client to wait, in seconds


@dataclass
class ServeConfig:
    """Options of `python -m tts_core.serve`. Times in milliseconds where the name says `_ms`."""

    voice: str = "joe-medium"
    tier: str = "advanced"
    host: str = "127.0.0.1"  # loopback by default: expose it on purpose (--host 0.0.0.0)
    port: int = 8000  # 0 picks a free port
    device: str = "cpu"
    seed: int | None = 0
    max_queue: int = 8  # requests waiting (not counting those being served) before a new one gets 429
    max_batch: int = 8  # most requests served together in one `synthesize_batch` (tiers that batch)
    # how long the first waiting request waits for company (tiers that batch); 0, as in the LoadGen scenarios:
    # a request is served at once when the engine is idle, and those that arrive while it is busy go together in
    # its next batch (a 10 ms wait cost a lone client 10 ms of first audio for nothing)
    max_wait_ms: float = 0.0
    # batch: requests served whole, batched where the tier batches; deadline: every request streams, one chunk at a
    # time, earliest deadline first (tts_core.runtime.scheduler); max_batch is then the most streams at once
    policy: str = "batch"
    first_audio_ms: float = FIRST_AUDIO_S * 1000  # deadline: a new request's first chunk is due this long after it came
    max_input_chars: int = OPENAI_MAX_INPUT_CHARS  # longer `input` gets 413
    log_level: str = "info"
    # engines serving: 1 = one engine in this process; N > 1 = N engine processes, the usable cores split between
    # them, each request sent to the one with the fewest in flight (tts_core.serve.engines)
    workers: int = 1

    def __post_init__(self) -> None:
        def check(ok: bool, name: str, allowed: str) -> None:
            if not ok:
                raise bad_field("serve", name, getattr(self, name), allowed)

        check(isinstance(self.voice, str) and bool(self.voice), "voice", "a voice name such as joe-medium or tiny")
        check(isinstance(self.tier, str) and bool(self.tier), "tier", "a tier name such as baseline or advanced")
        check(isinstance(self.host, str) and bool(self.host), "host", "an address such as 127.0.0.1")
        check(isinstance(self.port, int) and 0 <= self.port <= 65535, "port", "an int in 0..65535 (0: a free port)")
        check(self.seed is None or isinstance(self.seed, int), "seed", "an int or None")
        check(isinstance(self.max_queue, int) and self.max_queue >= 1, "max_queue", "an int >= 1")
        check(isinstance(self.max_batch, int) and self.max_batch >= 1, "max_batch", "an int >= 1")
        check(isinstance(self.max_wait_ms, (int, float)) and 0 <= self.max_wait_ms <= 10_000, "max_wait_ms",
              "a number of milliseconds in 0..10000")
        check(self.policy in POLICIES, "policy", ", ".join(POLICIES))
        check(isinstance(self.first_audio_ms, (int, float)) and 0 <= self.first_audio_ms <= 60_000, "first_audio_ms",
              "a number of milliseconds in 0..60000")
        check(isinstance(self.max_input_chars, int) and self.max_input_chars >= 1, "max_input_chars", "an int >= 1")
        check(self.log_level in LOG_LEVELS, "log_level", ", ".join(LOG_LEVELS))
        check(isinstance(self.workers, int) and not isinstance(self.workers, bool) and self.workers >= 1, "workers",
              "an int >= 1 (1: one engine in the server's process)")

    def batch_policy(self, tier: TierConfig) -> BatchPolicy:
        """The dispatcher's policy for a loaded tier: `policy`, with batching where the tier batches or has workers."""
        return BatchPolicy(enabled=batches_requests(tier), max_batch=self.max_batch, max_wait_s=self.max_wait_ms / 1000,
                           policy=self.policy, first_audio_s=self.first_audio_ms / 1000)
