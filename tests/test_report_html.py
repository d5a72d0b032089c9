"""The HTML report: it reads the stored paired figures (never recomputes), writes verdicts.json and peers.json,
refuses files outside the results folders, escapes markup, and copes with empty, failed and merged inputs."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import pandas as pd
import pytest

from bench.report import write_report
from bench.report.cli import main
from bench.report.load import load_results
from bench.report.synthetic import synthetic_rows, write_synthetic_run, write_wav
from bench.results.schema import ResultRow

SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(2)>'
VERDICT_FIELDS = {"machine", "optimization", "speedup", "ci_lo", "ci_hi", "verdict", "reference", "metric", "pairs",
                  "text", "switch_diff", "command"}


def _write_rows(path: Path, rows: list[ResultRow]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r.to_dict()) + "\n" for r in rows))
    return path


def _stored(results: Path) -> list[dict]:
    return [json.loads(line) for line in results.read_text().splitlines() if line.endswith("}")]


def _pooled(results: Path, contender: str) -> dict:
    return next(r for r in _stored(results) if r["contender"] == contender and r["text"] == "all")


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("report")
    results = write_synthetic_run(root / "results" / "run-1")
    return results, write_report([results.parent], root / "out")


def test_one_self_contained_file(run: tuple[Path, Path]) -> None:
    html = run[1].read_text()
    assert run[1].name == "index.html" and html.startswith("<!DOCTYPE html>")
    assert not re.search(r'(src|href)\s*=\s*["\']?\s*(https?:)?//', html), "nothing may be fetched from the network"
    assert "<script" not in html.lower() and "@import" not in html and "<link" not in html
    srcs = re.findall(r'<(?:img|audio)[^>]*\ssrc="([^"]*)"', html)
    assert all(s.startswith(("data:image/png;base64,", "data:audio/wav;base64,")) for s in srcs)
    assert html.count("<img") >= 9 and html.count("<audio") == 7  # one sample per ok contender
    assert "could not be drawn" not in html


def test_first_screen_has_machine_headline_and_stored_verdicts(run: tuple[Path, Path]) -> None:
    results, report = run
    html = report.read_text()
    top = html[: html.index("<nav>")]
    assert "2024-05-01T12-00-00" in top and "AMD EPYC 7B13" in top and "avx2" in top
    advanced = _pooled(results, "tts_core:advanced@cpu-all")
    expected = f"{advanced['speedup']:.2f}x [{advanced['speedup_ci_low']:.2f}–{advanced['speedup_ci_high']:.2f}]"
    line = re.search(r"tts_core:advanced@cpu-all vs tts_core:baseline on [^<]*", top).group(0)
    assert expected in line and advanced["verdict"] in line and f"over {advanced['speedup_pairs']} pairs" in line
    streaming = _pooled(results, "tts_core:advanced-streaming@cpu-all")
    assert streaming["verdict_metric"] == "ttfa" and f"{streaming['ttfa_speedup']:.2f}x [" in top
    assert "tts_core:baseline+compile@cpu-all vs tts_core:baseline on ci-runner-1 / cpu-all: identical here" in top
    assert "fidelity FAILS (half gate" in top  # bf16's stored fidelity verdict
    assert "failed or were skipped" in top


def test_the_report_copies_figures_and_never_recomputes(tmp_path: Path) -> None:
    rows = synthetic_rows(base_dir=tmp_path)
    target = next(r for r in rows if r.contender == "tts_core:optimized@cpu-all" and r.text == "all")
    target.speedup, target.speedup_ci_low, target.speedup_ci_high = 7.77, 7.01, 8.88  # not what the rounds give
    target.verdict, target.paired_ratios = "pays (a stored phrase)", [1.0, 1.0]
    out = write_report([_write_rows(tmp_path / "results.jsonl", rows)], tmp_path / "out")
    html = out.read_text()
    assert "7.77x [7.01–8.88]" in html and "pays (a stored phrase)" in html
    record = next(v for v in json.loads((out.parent / "verdicts.json").read_text()) if v["optimization"] == "optimized")
    assert (record["speedup"], record["ci_lo"], record["ci_hi"]) == (7.77, 7.01, 8.88)


def test_verdicts_json_has_one_record_per_non_reference_contender(run: tuple[Path, Path]) -> None:
    results, report = run
    records = json.loads((report.parent / "verdicts.json").read_text())
    pooled = [r for r in _stored(results) if r["text"] == "all" and r["status"] == "ok" and r["reference"]]
    assert sorted(v["contender"] for v in records) == sorted(r["contender"] for r in pooled)
    for v in records:
        assert VERDICT_FIELDS <= set(v), VERDICT_FIELDS - set(v)
        row = _pooled(results, v["contender"])
        prefix = "ttfa_speedup" if row["verdict_metric"] == "ttfa" else "speedup"
        assert (v["speedup"], v["ci_lo"], v["ci_hi"]) == (row[prefix], row[f"{prefix}_ci_low"], row[f"{prefix}_ci_high"])
        assert (v["verdict"], v["reference"], v["metric"], v["pairs"], v["text"], v["switch_diff"]) == (
            row["verdict"], row["reference"], row["verdict_metric"], row["speedup_pairs"], "all", row["switch_diff"])


def test_peers_json_has_the_stored_comparisons(run: tuple[Path, Path]) -> None:
    results, report = run
    peers = json.loads((report.parent / "peers.json").read_text())
    assert [p["contender"] for p in peers] == ["piper-onnxruntime:default@cpu-all"]
    piper = _pooled(results, "piper-onnxruntime:default@cpu-all")
    assert (peers[0]["rtf"], peers[0]["ttfa_s"], peers[0]["peak_rss_mb"]) == (piper["rtf"], piper["ttfa_s"], piper["peak_rss_mb"])
    stored = _pooled(results, "tts_core:advanced@cpu-all")["comparisons"][0]
    got = next(c for c in peers[0]["comparisons"] if c["contender"] == "tts_core:advanced@cpu-all" and c["text"] == "all")
    assert {k: got[k] for k in stored} == stored
    assert {c["tier"] for c in peers[0]["comparisons"]} == {"baseline", "optimized", "advanced"}
    html = report.read_text()
    assert f"{stored['speedup']:.2f}x [{stored['ci_low']:.2f}–{stored['ci_high']:.2f}]" in html


def test_ablations_show_switch_diff_and_identical_rows(run: tuple[Path, Path]) -> None:
    table = (run[1].parent / "ablations.csv").read_text()
    assert "streaming: True → False" in table and "precision: fp32 → bf16" in table
    identical = next(line for line in table.splitlines() if "baseline+compile" in line)
    assert "identical here" in identical and "none (identical switches)" in identical and "x [" not in identical


def test_tables_written_beside_as_csv_and_json(run: tuple[Path, Path]) -> None:
    out = run[1].parent
    for name in ("headline", "verdicts", "rows", "failures", "noisy", "environment", "machines", "ablations",
                 "time_to_first_audio", "roofline", "stages", "cost_fits", "peer_comparisons"):
        assert (out / f"{name}.csv").stat().st_size > 0, name
        json.loads((out / f"{name}.json").read_text())
    failures = (out / "failures.csv").read_text()
    assert "cuda not available" in failures and "TimeoutError" in failures
    assert "optimized" in (out / "noisy.csv").read_text()
    roofline = pd.read_csv(out / "roofline.csv").set_index("contender")
    assert {"bf16", "fp32"} <= set(roofline["precision"])
    advanced, piper = roofline.loc["tts_core:advanced@cpu-all"], roofline.loc["piper-onnxruntime:default@cpu-all"]
    assert re.fullmatch(r"[\d.]+ \(\d+% of fp32 peak\)", advanced["decoder GFLOP/s (of peak)"])  # each stage against its peak
    assert piper["decoder GFLOP/s (of peak)"] == "–" and piper["achieved GFLOP/s"] > 0  # Piper: whole model only
    assert "Warm (cached) rows" not in run[1].read_text()  # no cached=True rows in this run


def test_paths_outside_the_results_folder_are_refused(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    run_dir = tmp_path / "results" / "run"
    outside = write_wav(tmp_path / "outside.wav", 1.0)  # a valid WAV: only the check keeps it out
    (run_dir / "samples").mkdir(parents=True)
    (run_dir / "samples" / "link.wav").symlink_to(outside)
    rows = synthetic_rows(base_dir=run_dir, peers=False, failures=False)
    pooled = [r for r in rows if r.text == "all"]
    bad = {pooled[0].contender: "/etc/passwd", pooled[1].contender: "../../outside.wav",
           pooled[2].contender: str(run_dir / "samples" / "link.wav")}
    for r in pooled[:3]:
        r.sample_wav = bad[r.contender]
    pooled[3].mprof_file = "/etc/hostname"
    with caplog.at_level(logging.WARNING, logger="bench.report.paths"):
        out = write_report([_write_rows(run_dir / "results.jsonl", rows)], tmp_path / "out")
    html = out.read_text()
    refused = json.loads((out.parent / "refused.json").read_text())
    assert {(r["owner"], r["path"]) for r in refused} == {(f"{c} / all", p) for c, p in bad.items()} | {
        (f"{pooled[3].contender} / all", "/etc/hostname")}
    assert html.count("<audio") == len(pooled) - 3  # the files inside still play
    assert "4 file path(s) named by rows were refused" in html
    section = html[html.index('id="refused"'):]
    for contender, path in bad.items():
        assert f"{contender} / all: sample_wav {path} refused" in section
        assert any(contender in m and path in m for m in caplog.messages)


def test_markup_in_user_fields_is_escaped(tmp_path: Path) -> None:
    rows = synthetic_rows(run_id=f"run{SCRIPT}", host=f"host{IMG}", base_dir=tmp_path, peers=True)
    for row in rows:
        row.text = f"{row.text}{SCRIPT}" if row.text != "medium" else f"medium{IMG}"
        row.env = {**row.env, "cpu": f"cpu{SCRIPT}", f"key{IMG}": IMG}
        row.verdict = f"{row.verdict}{IMG}" if row.verdict else None
        row.switch_diff = {f"k{SCRIPT}": [IMG, 1]} if row.switch_diff else {}
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
    assert "could not be drawn" not in html


def test_empty_results_say_so(tmp_path: Path) -> None:
    empty = tmp_path / "results.jsonl"
    empty.write_text("")
    html = write_report([empty], tmp_path / "out").read_text()
    assert "No results" in html and "<img" not in html
    assert (tmp_path / "out" / "headline.csv").exists() and json.loads((tmp_path / "out" / "verdicts.json").read_text()) == []


def test_failed_only_results_say_so(tmp_path: Path) -> None:
    rows = [ResultRow(run_id="r", config_id=f"c{i}", status=s, tier="baseline", hardware="cpu-all", text="all",
                      error="OOM: killed" if s == "failed" else None, reason="cuda not available" if s == "skipped" else None)
            for i, s in enumerate(["failed", "skipped"])]
    html = write_report([_write_rows(tmp_path / "r" / "results.jsonl", rows)], tmp_path / "out").read_text()
    assert "No configuration succeeded" in html and "OOM: killed" in html and "cuda not available" in html
    assert "No data for" not in html and 'id="speed"' not in html  # nothing to chart: no section, no placeholder


def test_truncated_last_line_is_skipped(tmp_path: Path) -> None:
    results = write_synthetic_run(tmp_path / "run", truncated_tail=True)
    df = load_results([results])
    assert len(df) == len(results.read_text().splitlines()) - 1 and "cut-off" not in set(df["run_id"])


def test_two_machines_merge(tmp_path: Path) -> None:
    write_synthetic_run(tmp_path / "a", run_id="run-a", host="box-a")
    b = write_synthetic_run(tmp_path / "b", run_id="run-b", host="box-b", slowdown=2.0, seed=1)
    out = write_report([tmp_path / "a", b], tmp_path / "out")
    headline = (out.parent / "headline.csv").read_text()
    assert "box-a / cpu-all" in headline and "box-b / cpu-all" in headline
    assert out.parent.name == "out" and "merged-" in out.read_text()
    assert {v["machine"] for v in json.loads((out.parent / "verdicts.json").read_text())} == {"box-a / cpu-all", "box-b / cpu-all"}
    assert out.read_text().count("<audio") == 14 and "refused" not in (out.parent / "refused.json").read_text()


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
                           "peak_rss_mb": 300.0},
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
    assert set(df["contender"]) == {f"tts_core:{t}@cpu" for t in ("baseline", "optimized", "advanced")}
    out = write_report([path], tmp_path / "out")
    headline = (out.parent / "headline.csv").read_text()
    assert "tts_core:advanced@cpu" in headline and "0.250" in headline  # the stored RTF, no speedup invented
    assert "x [" not in headline and "Test CPU" in out.read_text()


def test_cli_help_and_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0 and "--out" in capsys.readouterr().out
    rows = [r for r in synthetic_rows(peers=False, failures=False) if r.tier in ("baseline", "advanced")]
    assert main([str(_write_rows(tmp_path / "results.jsonl", rows)), "--out", str(tmp_path / "cli")]) == 0
    assert (tmp_path / "cli" / "index.html").exists() and "wrote" in capsys.readouterr().out
    assert json.loads((tmp_path / "cli" / "verdicts.json").read_text())[0]["optimization"] == "advanced"
    assert main([str(tmp_path / "missing.jsonl")]) == 2


def test_cli_without_arguments_reports_the_newest_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    rows = [r for r in synthetic_rows(peers=False, failures=False) if r.tier == "baseline"]
    _write_rows(tmp_path / "results" / "run-x" / "results.jsonl", rows)
    (tmp_path / "results" / ".cache").mkdir()  # the sweep's cache folder, newer than the run: not a run
    (tmp_path / "results" / "empty-run").mkdir()
    assert main([]) == 0
    assert (tmp_path / "reports" / rows[0].run_id / "index.html").exists()


def test_capped_torch_beside_an_uncapped_peer_is_said_at_the_top(tmp_path: Path) -> None:
    rows = synthetic_rows(base_dir=tmp_path, peers=True)
    plain = write_report([_write_rows(tmp_path / "plain.jsonl", rows)], tmp_path / "plain").read_text()
    assert "which flatters the peer" not in plain  # no cap, nothing to say
    for r in rows:
        if r.engine == "tts_core":
            r.env = dict(r.env or {}, isa_caps={"ONEDNN_MAX_CPU_ISA": "AVX2"})
    html = write_report([_write_rows(tmp_path / "capped.jsonl", rows)], tmp_path / "capped").read_text()
    note = html[html.index("torch was capped"):][:600]
    assert "ONEDNN_MAX_CPU_ISA=AVX2" in note and "piper" in note.lower() and "flatters the peer" in note
    assert html.index("torch was capped") < html.index('id="speed"')  # at the top, before the sections
