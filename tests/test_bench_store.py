"""The JSONL store: atomic appends, tolerant reads, and a round-trip property."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from bench.results.schema import ResultRow
from bench.results.store import ResultStore, append_records, append_rows, read_frame, read_records, read_rows

finite = st.floats(allow_nan=False, allow_infinity=False, width=64)
text = st.text(max_size=20)
rows_strategy = st.lists(
    st.builds(
        ResultRow,
        run_id=text,
        config_id=text,
        status=st.sampled_from(["ok", "failed", "skipped"]),
        error=st.none() | text,
        tier=text,
        cached=st.none() | st.booleans(),
        latency_p50_s=st.none() | finite,
        latencies_s=st.lists(finite, max_size=5),
        extra=st.dictionaries(st.text(max_size=5).filter(lambda k: k not in {f for f in ResultRow.__dataclass_fields__}),
                              st.none() | st.integers() | text | finite, max_size=3),
    ),
    max_size=8,
)


def row(i: int, status: str = "ok") -> ResultRow:
    return ResultRow(run_id="r", config_id=f"c{i}", status=status, latency_p50_s=0.1 * i, latencies_s=[0.1, 0.2])


def test_append_then_read(tmp_path: Path) -> None:
    path = tmp_path / "results.jsonl"
    append_rows(path, [row(1), row(2)])
    append_rows(path, [row(3, "failed")])
    assert [r.config_id for r in read_rows(path)] == ["c1", "c2", "c3"]
    assert path.read_text().count("\n") == 3
    frame = read_frame(path)
    assert list(frame["config_id"]) == ["c1", "c2", "c3"] and "latency_p50_s" in frame


def test_truncated_last_line_is_skipped_and_next_append_starts_clean(tmp_path: Path) -> None:
    path = tmp_path / "results.jsonl"
    append_rows(path, [row(1), row(2)])
    with path.open("a") as fh:  # a writer killed mid-line
        fh.write(json.dumps(row(3).to_dict())[:40])
    assert [r.config_id for r in read_rows(path)] == ["c1", "c2"]
    append_rows(path, [row(4)])
    assert [r.config_id for r in read_rows(path)] == ["c1", "c2", "c4"]


def test_non_finite_floats_become_null(tmp_path: Path) -> None:
    path = tmp_path / "results.jsonl"
    append_rows(path, [ResultRow(run_id="r", config_id="c", status="ok", fid_snr_db=float("inf"), latencies_s=[float("nan")])])
    data = json.loads(path.read_text())
    assert data["fid_snr_db"] is None and data["latencies_s"] == [None]


def test_missing_file_reads_empty(tmp_path: Path) -> None:
    assert read_rows(tmp_path / "none.jsonl") == []
    assert read_frame(tmp_path / "none.jsonl").empty


def test_store_returns_the_last_measurement_of_a_group_whole(tmp_path: Path) -> None:
    store = ResultStore(tmp_path / "store.jsonl")
    old = [ResultRow(run_id="1", config_id=c, status="ok", group_id="g") for c in ("a", "b")]
    new = [ResultRow(run_id="2", config_id=c, status="ok", group_id="g") for c in ("a", "b")]
    other = ResultRow(run_id="3", config_id="a", status="ok", group_id="h")
    store.append([*old, *new, other])
    again = ResultStore(tmp_path / "store.jsonl")
    assert [r.run_id for r in again.group("g")] == ["2", "2"]
    assert again.group("nope") == []


def test_records_round_trip_and_skip_broken_lines(tmp_path: Path) -> None:
    path = tmp_path / "rounds.jsonl"
    append_records(path, [{"kind": "round", "r": 0, "ratio": float("inf")}])
    with path.open("a") as fh:
        fh.write('{"kind": "round", "r": 1, "cut')
    append_records(path, [{"kind": "round", "r": 2}])
    assert [r["r"] for r in read_records(path)] == [0, 2]
    assert read_records(path)[0]["ratio"] is None  # strict JSON


@settings(max_examples=60, deadline=None)
@given(batches=st.lists(rows_strategy, max_size=4))
def test_any_rows_read_back_unchanged(tmp_path_factory, batches: list[list[ResultRow]]) -> None:
    path = tmp_path_factory.mktemp("prop") / "results.jsonl"
    for batch in batches:
        append_rows(path, batch)
    expected = [r for batch in batches for r in batch]
    assert [r.to_dict() for r in read_rows(path)] == [r.to_dict() for r in expected]
