"""Properties over any input, beyond tests/test_text_frontend.py and tests/test_bench_store.py:
any unicode string (surrogates, controls, private use, huge) through the engine's own entry point, text
arriving in arbitrary blocks, and every `ResultRow` field through the store, non-finite floats included.

Non-finite floats are a decision, not an accident: the store writes strict JSON, so NaN, +inf and -inf
anywhere in a row (a field, a list, a nested dict) are written as null and read back as None.
"""

from __future__ import annotations

import math
import typing
from dataclasses import fields
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.results.schema import STATUSES, ResultRow
from bench.results.store import append_rows, read_rows
from tts_core.errors import TextError

ANY_CHAR = st.characters(exclude_categories=())  # every code point, lone surrogates included
ANY_TEXT = st.text(ANY_CHAR, max_size=300)
SPEECHY = st.text(st.sampled_from("abcdefghij klmnop.,!?\n'\"-0123456789$%") | ANY_CHAR, max_size=300)


@pytest.fixture(scope="module")
def engine():
    from tts_core import Engine

    with Engine.load(voice="tiny", tier="baseline", seed=0) as eng:
        yield eng


def _check(engine, produce) -> None:
    n_vocab = int(engine.model.config.n_vocab)
    try:
        sentences = produce()
    except TextError:
        return
    assert sentences, "no sentence and no TextError"
    for ids in sentences:
        assert ids and all(isinstance(i, int) and 0 <= i < n_vocab for i in ids)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=ANY_TEXT | SPEECHY)
def test_any_string_gives_ids_in_range_or_a_text_error(engine, text: str) -> None:
    _check(engine, lambda: engine.text_to_ids(text))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(blocks=st.lists(ANY_TEXT | SPEECHY, max_size=6))
def test_any_blocks_give_ids_in_range_or_a_text_error(engine, blocks: list[str]) -> None:
    """Text handed over in arbitrary pieces (as a file reader or a network stream would)."""
    _check(engine, lambda: [s.ids for s in engine._parts.frontend.sentences(iter(blocks))])


# ---- every ResultRow field through the store ---------------------------------------------------

FLOATS = st.floats(allow_nan=True, allow_infinity=True, width=64)
STRINGS = st.text(ANY_CHAR, max_size=40) | st.builds(lambda s, n: s * n, st.text(ANY_CHAR, min_size=1, max_size=3),
                                                     st.integers(10_000, 200_000))  # huge strings
SCALARS = st.none() | st.booleans() | st.integers(-(2**63), 2**63) | FLOATS | STRINGS
JSONISH = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(STRINGS, inner, max_size=3),
                       max_leaves=8)


def _strategy(name: str, hint: object) -> st.SearchStrategy:
    if name == "status":
        return st.sampled_from(STATUSES)
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    optional = type(None) in args
    base = next((a for a in args if a is not type(None)), hint) if args and origin is not list and origin is not dict else hint
    if typing.get_origin(base) is list or base is list:
        strat = st.lists(FLOATS, max_size=4)
    elif typing.get_origin(base) is dict or base is dict:
        strat = st.dictionaries(STRINGS, JSONISH, max_size=3)
    else:
        strat = {str: STRINGS, float: FLOATS, int: st.integers(-(2**63), 2**63), bool: st.booleans()}[base]
    return st.none() | strat if optional else strat


HINTS = typing.get_type_hints(ResultRow)
ROWS = st.builds(ResultRow, **{f.name: _strategy(f.name, HINTS[f.name]) for f in fields(ResultRow)})


def _stored(value: object) -> object:
    """What the store promises to give back for `value`: non-finite floats as None, tuples as lists."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _stored(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_stored(v) for v in value]
    return value


def _same(a: object, b: object) -> bool:
    """Equality where -0.0 and 0.0 differ (json keeps the sign) and ints stay ints."""
    if isinstance(a, float) and isinstance(b, float):
        return math.copysign(1, a) == math.copysign(1, b) and a == b
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(batches=st.lists(st.lists(ROWS, max_size=3), max_size=3))
def test_any_rows_read_back_as_stored(tmp_path_factory: pytest.TempPathFactory, batches: list[list[ResultRow]]) -> None:
    path: Path = tmp_path_factory.mktemp("rows") / "results.jsonl"
    for batch in batches:
        append_rows(path, batch)
    expected = [_stored(r.to_dict()) for batch in batches for r in batch]
    got = [r.to_dict() for r in read_rows(path)]
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        assert _same(g, e), (g, e)


def test_non_finite_floats_round_trip_as_none(tmp_path: Path) -> None:
    row = ResultRow(run_id="r", config_id="c", status="ok", speedup=float("nan"), fid_snr_db=float("inf"),
                    latency_p50_s=float("-inf"), latencies_s=[1.0, float("nan")], extra={"a": {"b": [float("inf")]}})
    append_rows(tmp_path / "r.jsonl", [row])
    (back,) = read_rows(tmp_path / "r.jsonl")
    assert (back.speedup, back.fid_snr_db, back.latency_p50_s) == (None, None, None)
    assert back.latencies_s == [1.0, None] and back.extra == {"a": {"b": [None]}}
