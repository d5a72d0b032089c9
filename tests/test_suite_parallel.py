"""The suite under pytest-xdist, as `./dev.sh test` runs it: a test marked `alone` has the machine to itself.

A small suite in a temporary folder, with the root conftest.py, runs on two xdist workers: plain tests write when
they start and end to one log (each lasts long enough that two of them overlap when both workers are busy), and the
`alone` test must find no other test between its own start and end. No timing is asserted: only the order of
events in the log."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from optional_deps import require

ROOT = Path(__file__).resolve().parents[1]

SUITE = '''
import os
import time

import pytest

LOG = os.environ["ALONE_LOG"]


def _say(what: str) -> None:
    with open(LOG, "a") as f:
        f.write(what + "\\n")


def _run(name: str, seconds: float) -> None:
    _say(f"start {name}")
    time.sleep(seconds)  # long enough that tests on two workers overlap unless something keeps them apart
    _say(f"end {name}")


@pytest.mark.alone
def test_alone() -> None:  # first, so the other worker has plain tests to run beside it
    _run("alone", 1.0)


@pytest.mark.parametrize("i", range(8))
def test_plain(i: int) -> None:
    _run(f"plain{i}", 0.3)
'''


def _run_suite(tmp_path: Path) -> list[str]:
    shutil.copy(ROOT / "conftest.py", tmp_path / "conftest.py")
    (tmp_path / "pytest.ini").write_text("[pytest]\nmarkers =\n    alone: runs with no other test beside it\n")
    (tmp_path / "test_fake.py").write_text(SUITE)
    log = tmp_path / "events.log"
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-n", "2", "-p", "no:cacheprovider", "test_fake.py"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          env={**_outside_pytest(), "ALONE_LOG": str(log), "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return log.read_text().split("\n")[:-1]


def _outside_pytest() -> dict[str, str]:
    """This environment less what pytest and xdist set in it (a worker's id and run id)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}


def test_an_alone_test_runs_with_no_other_beside_it_while_the_others_overlap(tmp_path: Path) -> None:
    require("xdist", "pytest-xdist is not installed (the test extra lists it; ./dev.sh test runs the suite on it)")
    events = _run_suite(tmp_path)
    start, end = events.index("start alone"), events.index("end alone")
    assert end == start + 1, events  # nothing started or ended while it ran
    # and the plain tests did run two at a time (else the check above proves nothing)
    running, most = 0, 0
    for e in events:
        running += 1 if e.startswith("start") else -1
        most = max(most, running)
    assert most == 2, events
