"""The score cache: one JSONL file of audio-hash -> ASR transcript and DNSMOS scores, so a re-run costs nothing.

Only what depends on the audio alone is stored; WER and CER are recomputed from the transcript (cheap), so
the same audio scored against another text is still right. Lines are appended whole; a torn or foreign line
is skipped on load.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

CACHE_FILE = "quality_scores.jsonl"
SCHEMA = 1


class ScoreCache:
    """Scores by key in memory, mirrored to `folder/quality_scores.jsonl` (None = memory only)."""

    def __init__(self, folder: Path | None) -> None:
        self.path = None if folder is None else Path(folder) / CACHE_FILE
        self._entries: dict[str, dict[str, Any]] = {}
        if self.path is not None and self.path.is_file():
            for line in self.path.read_text(encoding="utf-8").splitlines():
                try:
                    entry = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if isinstance(entry, dict) and entry.get("schema") == SCHEMA and "key" in entry:
                    self._entries[entry["key"]] = entry

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str) -> dict[str, Any] | None:
        """The stored entry for `key`, or None."""
        return self._entries.get(key)

    def put(self, key: str, values: dict[str, Any]) -> None:
        """Store `values` under `key` and append it to the file."""
        entry = {"schema": SCHEMA, "key": key, **values}
        self._entries[key] = entry
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as f:
                f.write(json.dumps(entry, ensure_ascii=False) + "\n")
