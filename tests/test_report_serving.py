"""The report of a serving run leads with its answer, and no report shows a section with nothing in it.

Rows come from `bench.report.synthetic_serving` (the harness's own QPS search over a latency model, stored as the
sweep stores LoadGen rows) and `bench.report.synthetic` (a paired sweep of rounds).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from bench.report import write_report
from bench.report.build import serving_rows
from bench.report.charts import time_to_first_audio
from bench.report.load import load_results
from bench.report.served import answer_table
from bench.report.synthetic import write_synthetic_run
from bench.report.synthetic_serving import SERVERS, concurrency_rows, search_rows, write_serving_run
from bench.results.schema import ResultRow
from bench.results.store import read_rows

FINDINGS = ("No noisy results", "Every scored transcript matches", "No paired comparisons")  # notes that state a result


def sections(html: str) -> dict[str, str]:
    """Each section's body (after its heading and intro), by anchor."""
    return {m.group(1): re.sub(r'^<h2>.*?</h2>(<p class="intro">.*?</p>)?', "", m.group(2))
            for m in re.finditer(r'<section id="([^"]+)">(.*?)</section>', html, re.S)}


def assert_no_empty_section(html: str) -> None:
    assert "No data for" not in html and "No verdict stored" not in html
    for anchor, body in sections(html).items():
        shows = re.search(r"<(table|img|audio)\b", body) or any(f in body for f in FINDINGS) or "could not be drawn" in body
        assert shows, f"section {anchor} has nothing to show: {body[:200]!r}"
    nav = re.search(r"<nav>(.*?)</nav>", html, re.S).group(1)
    assert set(re.findall(r'href="#([^"]+)"', nav)) <= set(sections(html)), "the nav names a section left out"


@pytest.fixture(scope="module")
def serving(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    root = tmp_path_factory.mktemp("serving")
    results = write_serving_run(root / "results" / "sv")
    return results, write_report([results], root / "report").read_text()


def test_a_serving_report_leads_with_the_highest_load_within_the_bound(serving: tuple[Path, str]) -> None:
    results, html = serving
    body = html[html.index("</header>") + len("</header>"):]
    assert body.startswith('<section id="answer"><h2>Highest load within the first-audio bound</h2>')
    answer = sections(html)["answer"]
    first_table = answer[:answer.index("</table>")]
    best = {r.contender: r.target_qps for r in read_rows(results) if r.best_qps}
    shown = re.findall(r"<tr>\s*<td>([^<]+)</td>\s*<td>([^<]+)</td>", first_table)
    assert [c for c, _ in shown] == ["tts_core-http:advanced@cpu-all", "tts_core:advanced@cpu-all",
                                     "piper-http:default@cpu-all"]  # highest first; none met last
    for contender, qps in shown:
        assert qps == (f"{best[contender]:.4g}" if contender in best else "–")
    assert "early stopping" in first_table and "p90 over the bound" in first_table  # why the next probe did not
    first_img = re.search(r"<img [^>]*>", html).group(0)
    assert 'alt="load against first audio per contender"' in first_img and first_img in answer
    assert html.index('<section id="answer">') < html.index("<nav>") < html.index('<section id="serving">')


def test_a_serving_report_shows_no_empty_section_and_no_round_figures(serving: tuple[Path, str]) -> None:
    _, html = serving
    assert_no_empty_section(html)
    assert "data headline" not in html[html.index("</section>"):html.index("<nav>")]  # no headline of rounds
    assert set(sections(html)) == {"answer", "serving", "environment", "rows"}
    for left_out in ("speed", "peers", "ablations", "streaming", "roofline", "stages", "quality", "memory", "scaling",
                     "samples", "noisy", "failures", "refused", "concurrency"):
        assert f'id="{left_out}"' not in html
    assert "No file path was refused." in html[html.index("<footer>"):]


def test_every_report_leaves_out_what_it_has_nothing_for(tmp_path: Path) -> None:
    rounds = write_synthetic_run(tmp_path / "results" / "run")
    html = write_report([rounds], tmp_path / "rounds").read_text()
    assert_no_empty_section(html)
    assert 'id="quality"' not in html and 'id="answer"' not in html  # no quality figures, no LoadGen rows
    failed = tmp_path / "failed" / "results.jsonl"
    failed.parent.mkdir()
    failed.write_text(json.dumps(ResultRow(run_id="f", config_id="c", status="failed", text="all", error="OOM").to_dict()))
    html = write_report([failed], tmp_path / "failed-report").read_text()
    assert_no_empty_section(html)
    assert set(sections(html)) == {"failures", "environment", "rows"}


def test_rounds_and_a_serving_run_in_one_report_keep_their_figures_apart(tmp_path: Path) -> None:
    rounds = write_synthetic_run(tmp_path / "results" / "run")
    html = write_report([rounds, write_serving_run(tmp_path / "results" / "sv")], tmp_path / "both").read_text()
    assert_no_empty_section(html)
    assert html.index('<section id="answer">') < html.index("data headline", html.index("</section>")) < html.index("<nav>")
    streaming = sections(html)["streaming"]
    assert "tts_core:advanced@cpu-all" in streaming and "-http:" not in streaming  # TTFA of rounds only
    assert "vs tts_core-http" not in html and "tts_core-http:advanced@cpu-all vs" not in html  # no verdict lines


def test_the_ttfa_chart_never_draws_probes_at_different_loads(tmp_path: Path) -> None:
    df = load_results([write_serving_run(tmp_path / "sv")])
    assert time_to_first_audio(df) is None  # one bar per contender would be a probe picked from several loads


def test_the_concurrency_curve_shows_only_when_rows_hold_one(tmp_path: Path, serving: tuple[Path, str]) -> None:
    assert 'id="concurrency"' not in serving[1] and "concurrent streams" not in serving[1]
    html = write_report([write_serving_run(tmp_path / "sv", concurrency=True)], tmp_path / "report").read_text()
    curve = sections(html)["concurrency"]
    assert html.index('<section id="answer">') < html.index('<section id="concurrency">') < html.index("<nav>")
    assert '<img class="chart" alt="first audio and audio throughput against concurrent streams"' in curve
    table = pd.read_csv(tmp_path / "report" / "concurrency.csv")
    assert sorted(set(table["streams"])) == [1, 2, 4, 8] and set(table["contender"]) == set(SERVERS)
    expected = {(r.contender, r.extra["concurrency"]): r.ttfa_p90_s * 1e3 for r in concurrency_rows()}
    for _, r in table.iterrows():
        assert r["first audio p90 (ms)"] == pytest.approx(expected[(r["contender"], r["streams"])])
    assert_no_empty_section(html)


def _frame(rows: list[ResultRow]) -> pd.DataFrame:
    df = pd.DataFrame([r.to_dict() for r in rows]).assign(machine="m")
    return serving_rows(df)


def test_a_probe_whose_listener_underran_or_failed_does_not_count() -> None:
    rows = [r for r in search_rows() if r.contender == "tts_core-http:advanced@cpu-all"]
    best = max((r for r in rows if r.valid == "VALID"), key=lambda r: r.target_qps)
    best.extra["underrun_rate"] = 0.25
    table = answer_table(_frame(rows))
    lower = max(r.target_qps for r in rows if r.valid == "VALID" and r is not best)
    assert table.loc[0, "highest QPS within the bound"] == pytest.approx(lower)
    assert "VALID, but 25% of streams underran" in table.loc[0, "next probe up"]
    failed = ResultRow(run_id="x", config_id="f", status="failed", error="engine hung", contender=best.contender,
                       workload="serve", scenario="server", target_qps=0.5, text="serve",
                       extra={"latency_bound_ms": 300.0, "latency_percentile": 0.9})
    table = answer_table(_frame([failed]))
    assert pd.isna(table.loc[0, "highest QPS within the bound"])
    assert table.loc[0, "next probe up"].endswith("failed: engine hung")
