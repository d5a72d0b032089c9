"""`MeasureSpec`: one configuration to measure, as the parent hands it to a fresh child process (JSON).

It carries everything the child needs (the text itself, resolved paths), so the child reads no config.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from bench.schema import ResultRow
from bench.texts import text_sha


@dataclass
class MeasureSpec:
    run_id: str
    host: str
    code_version: str
    engine: dict[str, Any]  # the engine group's config: _target_, name, options
    tier: str
    hardware: dict[str, Any]  # name, device, threads (0 = every core)
    model: str
    text_label: str  # short, medium, long, file:<name>
    text: str
    workload: dict[str, Any]  # name, batch_size
    measure: dict[str, Any]  # MeasureConfig fields
    compare: str = "separate"  # separate | interleaved
    run_dir: str = ""  # results/<run-id>: shared by every job of the sweep (peak GFLOP/s cache)
    out_dir: str = ""  # this job's folder: samples/, mprof/, logs/
    cache_dir: str = ""  # results/.cache: fidelity references shared across runs
    extra: dict[str, Any] = field(default_factory=dict)

    # ---- identity ---------------------------------------------------------------------------
    def axes(self) -> dict[str, Any]:
        """What makes two measurements the same configuration (not where they run or when)."""
        return {
            "engine": self.engine,
            "tier": self.tier,
            "hardware": self.hardware,
            "model": self.model,
            "text": self.text_label,
            "text_sha": text_sha(self.text),
            "workload": self.workload,
            "measure": self.measure,
            "compare": self.compare,
        }

    def config_id(self, cached: bool = False) -> str:
        """Stable hash (16 hex digits) of the axes; the repeated workload's cached rows get their own id."""
        payload = dict(self.axes(), cached=cached)
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]

    @property
    def cached_variants(self) -> tuple[bool, ...]:
        """The `cached` value of each row this spec yields: repeated gives an uncached and a cached row."""
        return (False, True) if self.workload["name"] == "repeated" else (False,)

    def row_ids(self) -> list[str]:
        return [self.config_id(cached) for cached in self.cached_variants]

    def with_tier(self, tier: str) -> "MeasureSpec":
        return replace(self, tier=tier)

    def describe(self) -> str:
        """One line naming the configuration, for logs."""
        hw = self.hardware["name"]
        return f"{self.engine['name']} tier={self.tier} hw={hw} model={self.model} text={self.text_label} workload={self.workload['name']}"

    # ---- rows -------------------------------------------------------------------------------
    def row(self, status: str, cached: bool = False, **values: Any) -> ResultRow:
        """A result row with this spec's identity filled in."""
        return ResultRow(
            run_id=self.run_id,
            config_id=self.config_id(cached),
            status=status,
            timestamp=time.time(),
            host=self.host,
            code_version=self.code_version,
            engine=self.engine["name"],
            tier=self.tier,
            hardware=self.hardware["name"],
            model=self.model,
            text=self.text_label,
            text_chars=len(self.text),
            workload=self.workload["name"],
            cached=cached,
            compare=self.compare,
            **values,
        )

    def failed_rows(self, error: str, **values: Any) -> list[ResultRow]:
        return [self.row("failed", cached, error=error, **values) for cached in self.cached_variants]

    # ---- wire format ------------------------------------------------------------------------
    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "MeasureSpec":
        return cls(**json.loads(text))

    def save(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.to_json(), encoding="utf-8")
        return path
