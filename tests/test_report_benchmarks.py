"""`pytest bench/benchmarks` runs (tiny voice, timing off) and its JSON feeds the report."""

from __future__ import annotations

import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from bench.conftest import hardware_cases

ROOT = Path(__file__).resolve().parents[1]
TIERS = ("baseline", "optimized")
TEXT = "short"


def test_benchmarks_run_on_the_tiny_voice(tmp_path: Path) -> None:
    """Every selected case runs and passes: one per tier and per hardware the benchmarks' conftest offers here
    (cuda cases only where a GPU is visible), so the expected cases come from the same place as the real ones."""
    junit = tmp_path / "junit.xml"
    cmd = [sys.executable, "-m", "pytest", "bench/benchmarks", "-k", f"{TEXT} and ({' or '.join(TIERS)})",
           "--bench-model", "tiny", "--benchmark-disable", "-q", "-p", "no:cacheprovider",
           "-W", "ignore::DeprecationWarning", f"--junitxml={junit}"]
    result = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]

    outcomes: dict[frozenset[str], str] = {}
    for case in ET.parse(junit).iter("testcase"):
        params = re.fullmatch(r"test_tier\[(.+)\]", case.get("name", ""))
        assert params, f"an unexpected case ran: {case.get('name')}"
        outcome = next((child.tag for child in case if child.tag in ("failure", "error", "skipped")), "passed")
        outcomes[frozenset(params.group(1).split("-"))] = outcome
    expected = {frozenset((tier, TEXT, hardware)) for tier in TIERS for hardware in hardware_cases()}
    assert set(outcomes) == expected, f"cases run {sorted(map(sorted, outcomes))}, expected {sorted(map(sorted, expected))}"
    assert set(outcomes.values()) == {"passed"}, outcomes
