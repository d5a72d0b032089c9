"""The HTML report: one self-contained file, tables beside it, escaping, empty inputs, both input formats, merges."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from bench.report import write_report
from bench.report.cli import main
from bench.report.load import load_results
from bench.report.synthetic import synthetic_rows, write_synthetic_run
from bench.schema import ResultRow

SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(2)>'


def _write_rows(path: Path, rows: list[ResultRow]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r.to_dict()) + "\n" for r in rows))
    return path


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("report")
    results = write_synthetic_run(root / "results" / "run-1")
    return write_report([results], root / "out")


def test_one_self_contained_file(report: Path) -> None:
    html = report.read_text()
    assert report.name == "index.html" and html.startswith("<!DOCTYPE html>")
    assert not re.search(r'(src|href)\s*=\s*["\']?\s*(https?:)?//', html), "nothing may be fetched from the network"
    assert "<script" not in html.lower() and "@import" not in html and "<link" not in html
    srcs = re.findall(r'<(?:img|audio)[^>]*\ssrc="([^"]*)"', html)
    assert len(srcs) >= 12 and all(s.startswith(("data:image/png;base64,", "data:audio/wav;base64,")) for s in srcs)
    assert html.count("<img") >= 9 and html.count("<audio") >= 3


def test_first_screen_has_headline_and_verdicts(report: Path) -> None:
    html = report.read_text()
    top = html[: html.index("<nav>")]
    assert "2024-05-01T12-00-00" in top and "AMD EPYC 7B13" in top and "2024-05-01" in top
    assert "speedup vs baseline [95% CI]" in top
    assert re.search(r"int8 does not pay on cpu-all: 0\.\d\dx \[", top), "verdicts come from the data"
    assert re.search(r"advanced pays on cpu-all: 1\.\d\dx", top)
    assert "fidelity FAILS" in top


def test_tables_written_beside_as_csv_and_json(report: Path) -> None:
    for name in ("headline", "verdicts", "rows", "failures", "noisy", "cached_vs_uncached", "environment", "cost_fits", "peers"):
        assert (report.parent / f"{name}.csv").stat().st_size > 0
        json.loads((report.parent / f"{name}.json").read_text())
    failures = (report.parent / "failures.csv").read_text()
    assert "cuda not available" in failures and "TimeoutError" in failures
    assert "optimized" in (report.parent / "noisy.csv").read_text()


def test_markup_in_user_fields_is_escaped(tmp_path: Path) -> None:
    rows = synthetic_rows(run_id=f"run{SCRIPT}", host=f"host{IMG}", base_dir=tmp_path, peers=True)
    for row in rows:
        row.text = f"{row.text}{SCRIPT}" if row.text != "medium" else f"medium{IMG}"
        row.env = {**row.env, "cpu_model": f"cpu{SCRIPT}", f"key{IMG}": IMG}
    rows[0].tier = f"baseline+x{SCRIPT}"
    rows.append(ResultRow(run_id=rows[0].run_id, config_id="bad", status="failed", host=rows[0].host, tier="advanced",
                          text=f"long{IMG}", error=f"RuntimeError: {SCRIPT} {IMG}", hardware=f"cpu{SCRIPT}"))
    rows.append(ResultRow(run_id=rows[0].run_id, config_id="skip", status="skipped", host=rows[0].host, tier="advanced",
                          reason=f"because {IMG}", mprof_file=f"/no/{SCRIPT}.dat", sample_wav=f"x{IMG}.wav"))
    out = write_report([_write_rows(tmp_path / "results.jsonl", rows)], tmp_path / "out")
    html = out.read_text()
    assert "<script" not in html.lower()
    assert "<img src=x" not in html and 'onerror=alert' not in html.replace("onerror=alert(2)&gt;", "")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&gt;&lt;img src=x onerror=alert(2)&gt;" in html


def test_empty_results_say_so(tmp_path: Path) -> None:
    empty = tmp_path / "results.jsonl"
    empty.write_text("")
    html = write_report([empty], tmp_path / "out").read_text()
    assert "No results" in html and "<img" not in html
    assert (tmp_path / "out" / "headline.csv").exists()


def test_failed_only_results_say_so(tmp_path: Path) -> None:
    rows = [ResultRow(run_id="r", config_id=f"c{i}", status=s, tier="baseline", hardware="cpu-all", text="short",
                      error="OOM: killed" if s == "failed" else None, reason="cuda not available" if s == "skipped" else None)
            for i, s in enumerate(["failed", "skipped"])]
    html = write_report([_write_rows(tmp_path / "r" / "results.jsonl", rows)], tmp_path / "out").read_text()
    assert "No configuration succeeded" in html and "OOM: killed" in html and "cuda not available" in html
    assert "No data for the speedup chart" in html


def test_truncated_last_line_is_skipped(tmp_path: Path) -> None:
    results = write_synthetic_run(tmp_path / "run", truncated_tail=True)
    df = load_results([results])
    assert len(df) == len(results.read_text().splitlines()) - 1 and "cut-off" not in set(df["run_id"])


def test_two_machines_merge(tmp_path: Path) -> None:
    a = write_synthetic_run(tmp_path / "a", run_id="run-a", host="box-a")
    b = write_synthetic_run(tmp_path / "b", run_id="run-b", host="box-b", slowdown=2.0, seed=1)
    out = write_report([tmp_path / "a", b], tmp_path / "out")
    headline = (out.parent / "headline.csv").read_text()
    assert "box-a / cpu-all" in headline and "box-b / cpu-all" in headline
    assert out.parent.name == "out" and "merged-" in out.read_text()
    assert a.exists()


def _benchmark_json(path: Path) -> Path:
    benches = []
    for tier, lat in (("baseline", 1.0), ("optimized", 0.8), ("advanced", 0.5)):
        data = [lat * f for f in (0.98, 1.0, 1.01, 1.03, 0.99)]
        benches.append({
            "group": "text=short hardware=cpu", "name": f"test_tier[cpu-{tier}-short]",
            "fullname": f"bench/benchmarks/test_tiers.py::test_tier[cpu-{tier}-short]",
            "params": {"hardware": "cpu", "tier": tier, "text_name": "short"},
            "extra_info": {"engine": "tts_core", "tier": tier, "text": "short", "hardware": "cpu", "model": "tiny",
                           "workload": "single", "cached": False, "audio_s": 2.0, "rtf": lat / 2, "latencies_s": data,
                           "peak_rss_mb": 300.0, "cuda_max_allocated_mb": None,
                           **({"fid_gate": "exact", "fid_pass": True, "fid_snr_db": 80.0} if tier != "baseline" else {})},
            "stats": {"min": min(data), "max": max(data), "mean": sum(data) / 5, "stddev": 0.01, "median": sorted(data)[2],
                      "rounds": 5, "iterations": 1},
        })
    doc = {"machine_info": {"node": "bench-box", "cpu": {"brand_raw": "Test CPU"}, "cpu_model": "Test CPU", "torch": "2.13"},
           "commit_info": {"id": "abc123"}, "benchmarks": benches, "datetime": "2024-05-02T10:00:00", "version": "5.1.0"}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc))
    return path


def test_pytest_benchmark_json_is_read(tmp_path: Path) -> None:
    path = _benchmark_json(tmp_path / ".benchmarks" / "Linux-CPython-3.11-64bit" / "0001_abc.json")
    (tmp_path / ".benchmarks" / "other.json").write_text('{"not": "a benchmark"}')
    df = load_results([tmp_path / ".benchmarks"])
    assert sorted(df["tier"]) == ["advanced", "baseline", "optimized"] and set(df["host"]) == {"bench-box"}
    out = write_report([path], tmp_path / "out")
    headline = (out.parent / "headline.csv").read_text()
    assert "2.00x [" in headline and "1.25x [" in headline
    assert "Test CPU" in out.read_text()


def test_cli_help_and_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0 and "--out" in capsys.readouterr().out
    rows = [r for r in synthetic_rows(peers=False, failures=False) if r.text == "short" and r.tier in ("baseline", "advanced")]
    assert main([str(_write_rows(tmp_path / "results.jsonl", rows)), "--out", str(tmp_path / "cli")]) == 0
    assert (tmp_path / "cli" / "index.html").exists() and "wrote" in capsys.readouterr().out
    assert main([str(tmp_path / "missing.jsonl")]) == 2
