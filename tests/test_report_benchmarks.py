"""`pytest bench/benchmarks` runs (tiny voice, timing off) and its JSON feeds the report."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_benchmarks_run_on_the_tiny_voice(tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "pytest", "bench/benchmarks", "-k", "short and (baseline or optimized)",
           "--bench-model", "tiny", "--benchmark-disable", "-q", "-p", "no:cacheprovider", "-W", "ignore::DeprecationWarning"]
    result = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "2 passed" in result.stdout, result.stdout[-2000:]
