"""Files a row names (`sample_wav`, `mprof_file`): read only from inside the results folders the report was given.

A results file from elsewhere could name any local file (`/etc/passwd`, `../../secret`, a symlink pointing
out); the report embeds what it reads, so such a path is refused, logged with the row it came from, and
listed in the report's "Refused files" note. Symlinks are resolved before the check.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Refusal:
    """One path a row named that resolves outside every allowed root."""

    owner: str  # the row: "contender / text"
    kind: str  # the field: sample_wav, mprof_file
    path: str  # as the row wrote it
    resolved: str  # where it leads once symlinks and `..` are resolved


def roots_of(results_paths: Iterable[Path]) -> list[Path]:
    """The allowed roots: each given folder, or the folder of each given file, symlinks resolved."""
    return list(dict.fromkeys((p if p.is_dir() else p.parent).resolve() for p in map(Path, results_paths)))


@dataclass
class FileGuard:
    """Finds a row's file inside `roots` and records every path it refuses (see `refused`)."""

    roots: list[Path]
    refused: list[Refusal] = field(default_factory=list)

    def inside(self, path: Path) -> bool:
        return any(path.is_relative_to(root) for root in self.roots)

    def find(self, raw: str | None, base_dir: str | None, owner: str, kind: str) -> Path | None:
        """The file `raw` names, resolved inside a root; None when it is missing or refused.

        A relative path is looked up under the row's results file's folder (`base_dir`), then under each root.
        An absolute path that is not there (a results folder copied from another machine) is also looked up
        as `<base_dir>/<its folder>/<its name>` and `<base_dir>/<its name>`.
        """
        if not raw:
            return None
        path = Path(raw)
        base = Path(base_dir) if base_dir else None
        if path.is_absolute():
            candidates = [path] + ([base / path.parent.name / path.name, base / path.name] if base else [])
        else:
            candidates = ([base / path] if base else []) + [root / path for root in self.roots]
        outside = None
        for candidate in candidates:
            resolved = candidate.resolve()
            if not self.inside(resolved):
                outside = outside or resolved
            elif resolved.is_file():
                return resolved
        if outside is not None:
            refusal = Refusal(owner, kind, str(raw), str(outside))
            if refusal not in self.refused:
                log.warning("refused %s of %s: %s resolves to %s, outside the results folders %s",
                            kind, owner, raw, outside, ", ".join(map(str, self.roots)))
                self.refused.append(refusal)
        return None

    def notes(self) -> list[str]:
        """One sentence per refused path, for the report."""
        return [f"{r.owner}: {r.kind} {r.path} refused (resolves to {r.resolved}, outside the results folders)"
                for r in self.refused]
