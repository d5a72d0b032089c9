"""The heard-quality pass inside a real sweep on the tiny voice (random weights: noise, WER about 100%): the rounds
store their audio, the pass scores it after the rounds, and the rows carry texts, words, intervals and verdicts.
Needs the `quality` extra (skipped without it)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import bench.quality as q
from bench.quality.selection import PER_CLASS
from bench.results.store import read_records, read_rows
from optional_deps import needs

pytestmark = [needs(q.available()), pytest.mark.slow]
ROOT = Path(__file__).resolve().parent.parent


def test_tiny_sweep_rows_carry_quality_over_the_rounds_audio(tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "bench.sweep", "model=tiny", "measure=quick", "measure.quality=true",
           "measure.max_rounds=6", "text=short", "sweep.tiers=[baseline,optimized]", "sweep.peers=[]",
           "sweep.report=false", "sweep.run_id=tq", f"sweep.results_dir={tmp_path / 'results'}",
           f"sweep.reports_dir={tmp_path / 'reports'}"]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    run = tmp_path / "results" / "tq"
    rows = {(r.tier, r.text): r for r in read_rows(run / "results.jsonl")}
    rounds = read_records(run / "rounds.jsonl")
    assert len(rounds) >= PER_CLASS  # the rounds ran as long as the pass needs texts
    base, opt = rows[("baseline", "all")], rows[("optimized", "all")]
    for row in (base, opt):
        assert row.quality_texts == len(rounds) and row.quality_words >= 3 * len(rounds)  # short: 3-10 words
        assert row.wer is not None and row.dnsmos_ovrl is not None
        assert row.extra["quality_cost"]["audio_s_scored"] > 0 and row.extra["quality_cost"]["seconds"] > 0
        assert sorted(row.extra["quality_rounds"]) == [rd["r"] for rd in rounds]
    assert base.quality_verdict is None and opt.extra["quality_reference"] == base.contender
    # optimized switches only exact changes: its audio is the baseline's to within 1e-8, so it is heard the same on
    # every text (deltas of zero, within float noise on DNSMOS) and passes the gate on any interval over them
    assert abs(opt.wer_delta) <= 1e-9 and abs(opt.dnsmos_ovrl_delta) < 1e-3, (opt.wer_delta, opt.dnsmos_ovrl_delta)
    assert opt.quality_verdict == q.PASS and opt.quality_pass is True and opt.quality_gate == q.GATE_NAME
    assert opt.wer_delta_ci_low is not None and opt.wer_delta_ci_low <= opt.wer_delta <= opt.wer_delta_ci_high
    assert rows[("optimized", "short")].quality_texts == len(rounds)  # the class row: its class's texts
    folder = Path(rounds[0]["results"][opt.contender]["audio_file"]).parent
    assert folder == run / "audio" / "tts_core_optimized_cpu-all"
    assert len(list(folder.glob("r*.wav"))) == len(rounds)
    heard = json.loads((folder / "transcripts.json").read_text())
    assert [t["r"] for t in heard] == [rd["r"] for rd in rounds]
    differing = [t for t in heard if t["differs"]]
    assert len(opt.extra["quality_transcripts"]) == len(differing)  # the tiny voice's noise is not heard as the text
