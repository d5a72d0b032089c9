"""bench.quality without the models: config, gate, deltas, row fields, normalization, cache, skip line, report."""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest

import bench.quality as q
from bench.quality.audio import audio_key, to_rate
from bench.quality.cache import ScoreCache
from bench.quality.dnsmos import windows
from bench.quality.report import data_uri, quality_table, speed_quality_chart, to_html, transcripts
from optional_deps import require


def figures(wer=0.05, cer=0.02, sig=3.6, bak=4.1, ovrl=3.4, transcript="hello there") -> q.QualityFigures:
    return q.QualityFigures(wer=wer, cer=cer, dnsmos_sig=sig, dnsmos_bak=bak, dnsmos_ovrl=ovrl,
                            asr_transcript=transcript, reference="hello there", heard=transcript,
                            audio_s=1.0, quality_s=0.5, cached=False)


def test_public_surface():
    assert set(q.__all__) >= {"available", "QualityConfig", "QualityScorer", "QualityFigures", "deltas", "gate",
                              "row_fields", "open_scorer"}
    assert q.ROW_FIELDS == ("wer", "cer", "dnsmos_sig", "dnsmos_bak", "dnsmos_ovrl", "wer_delta", "cer_delta",
                            "dnsmos_sig_delta", "dnsmos_bak_delta", "dnsmos_ovrl_delta", "asr_transcript",
                            "quality_gate", "quality_pass", "quality_s")


@pytest.mark.parametrize("field, value", [("beam_size", 0), ("beam_size", 1.5), ("compute_type", "fp8"),
                                          ("enabled", "yes"), ("cpu_threads", -1), ("asr_model", "/nonexistent")])
def test_config_rejects_bad_fields(field, value):
    with pytest.raises(q.QualityConfigError, match=f"`quality.{field}`"):
        q.QualityConfig(**{field: value})


def test_config_paths(tmp_path):
    assert q.QualityConfig(cache_dir=str(tmp_path)).cache_dir == tmp_path


def test_deltas_and_gate_at_the_thresholds():
    base = figures()
    assert q.deltas(figures(wer=0.08, ovrl=3.3), base)["wer_delta"] == pytest.approx(0.03)
    assert q.gate(figures(wer=base.wer + q.MAX_WER_INCREASE, ovrl=base.dnsmos_ovrl - q.MAX_OVRL_DROP), base)[0]
    passed, failures = q.gate(figures(wer=base.wer + 0.011), base)
    assert not passed and "WER" in failures[0]
    passed, failures = q.gate(figures(ovrl=base.dnsmos_ovrl - 0.11), base)
    assert not passed and "OVRL" in failures[0]
    assert q.gate(figures(wer=0.0, ovrl=4.5), base) == (True, [])


def test_row_fields():
    base, cand = figures(), figures(wer=0.2)
    row = q.row_fields(cand, base)
    assert tuple(row) == q.ROW_FIELDS
    assert row["wer_delta"] == pytest.approx(0.15) and row["quality_pass"] is False
    assert row["quality_gate"] == q.GATE_NAME
    alone = q.row_fields(cand)
    assert alone["wer"] == 0.2 and alone["wer_delta"] is None and alone["quality_pass"] is None
    assert set(q.row_fields(None).values()) == {None}


def test_missing_extra_skips_with_one_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "jiwer", None)  # makes `import jiwer` raise ImportError
    reason = q.available()
    assert reason is not None and "jiwer" in reason and "pip install -e '.[quality]'" in reason
    assert "\n" not in reason
    lines: list[str] = []
    assert q.open_scorer(q.QualityConfig(), note=lines.append) is None
    assert lines == [reason]


def test_missing_extra_line_goes_to_stderr(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "faster_whisper", None)
    assert q.open_scorer(q.QualityConfig()) is None
    out = capsys.readouterr()
    assert out.out == "" and out.err.count("\n") == 1 and "faster-whisper" in out.err


def test_disabled_pass_is_silent(capsys):
    assert q.open_scorer(q.QualityConfig(enabled=False)) is None
    assert capsys.readouterr().err == ""


def test_normalized_error_rates_agree_on_numbers_and_punctuation():
    require("jiwer")
    from bench.quality.wer import canonical, error_rates

    assert error_rates("I bought 3 cups, for $29.50!", "i bought three cups for twenty-nine dollars and fifty cents") \
        == (0.0, 0.0)
    assert error_rates("Dr. Smith arrived.", "Doctor Smith arrived") == (0.0, 0.0)
    assert error_rates("one two three four", "one two four")[0] == pytest.approx(0.25)
    assert error_rates("one two", "") == (1.0, 1.0)
    assert canonical("Hello, World!") == "hello world"
    with pytest.raises(ValueError, match="`text`"):
        error_rates("...", "hello")


def test_audio_key_depends_on_samples_rate_and_models():
    x = np.linspace(-0.5, 0.5, 100, dtype=np.float32)
    k = audio_key(x, 16000, "m1")
    assert k == audio_key(x.copy(), 16000, "m1")
    assert len({k, audio_key(x, 22050, "m1"), audio_key(x, 16000, "m2"), audio_key(x * 0.9, 16000, "m1")}) == 4


def test_cache_round_trip_skips_torn_lines(tmp_path):
    cache = ScoreCache(tmp_path)
    cache.put("a", {"transcript": "hi", "sig": 1.0, "bak": 2.0, "ovrl": 3.0})
    with cache.path.open("a") as f:
        f.write('{"schema": 1, "key": "b", "transcr')  # a torn line from a killed writer
    again = ScoreCache(tmp_path)
    assert len(again) == 1 and again.get("a")["transcript"] == "hi" and again.get("b") is None


def test_resample_and_windows():
    x = np.sin(np.linspace(0, 2000, 22050)).astype(np.float32) * 0.5  # 1 s at 22.05 kHz
    y = to_rate(x, 22050)
    assert y.shape == (16000,) and y.dtype == np.float32
    assert windows(y).shape == (7, 144160)  # 1 s doubled to 16 s, as the reference does: 7 windows 1 s apart
    assert windows(np.zeros(16000 * 12, dtype=np.float32)).shape[0] == 3
    with pytest.raises(ValueError, match="`sample_rate`"):
        to_rate(x, 0)
    with pytest.raises(ValueError, match="`samples`"):
        to_rate(np.zeros((2, 10)), 16000)


def _frame() -> pd.DataFrame:
    """Pooled rows as the sweep stores them: figures over the scored texts, deltas with intervals, a verdict."""
    rows = []
    for tier, wer, tput, verdict in (("baseline", 0.0, 7.0, None), ("advanced", 0.25, 12.0, q.FAIL),
                                     ("baseline+bf16", 0.01, 9.0, q.UNDECIDED)):
        row = q.row_fields(figures(wer=wer), figures(wer=0.0) if verdict else None)
        row.update(asr_transcript=None, quality_texts=12, quality_words=240)
        extra = {"quality_reference": None, "quality_transcripts": []}
        if verdict:
            row.update(wer_delta_ci_low=wer - 0.02, wer_delta_ci_high=wer + 0.03, dnsmos_ovrl_delta_ci_low=-0.05,
                       dnsmos_ovrl_delta_ci_high=0.04, quality_verdict=verdict, quality_pass=q.verdict_passed(verdict))
            extra["quality_reference"] = "tts_core:baseline@cpu-all"
        if wer > 0.1:
            extra["quality_transcripts"] = [{"r": 3, "text_class": "short", "wer": wer, "said": "the cat sat",
                                             "heard": "the cat <b>sat</b>", "audio": "/r/audio/adv/r003.wav"}]
        rows.append({"engine": "tts_core", "tier": tier, "text": "all", "status": "failed" if verdict == q.FAIL else "ok",
                     "throughput_audio_s_per_s": tput, "extra": extra, **row})
    rows.append({"engine": "tts_core", "tier": "optimized", "text": "all", "status": "failed", "extra": {},
                 **q.row_fields(None)})
    return pd.DataFrame(rows)


def test_quality_table_and_transcripts_are_escaped():
    df = _frame()
    table = quality_table(df)
    assert list(table["tier"]) == ["baseline", "advanced", "baseline+bf16"]  # a row the heard gate failed shows too
    adv = table[table["tier"] == "advanced"].iloc[0]
    assert adv["wer_%"] == pytest.approx(25.0) and adv["texts"] == 12 and adv["words"] == 240
    assert adv["wer_delta_pt [95%]"] == "+25.0 [+23.0, +28.0]" and adv["vs"] == "tts_core:baseline"
    assert list(table["verdict"]) == ["–", "fail", "not enough evidence"]
    heard = transcripts(df)
    assert list(heard["tier"]) == ["advanced"] and heard["audio"].item() == "audio/adv/r003.wav"
    html = to_html(heard)
    assert "<b>" not in html and "&lt;b&gt;sat" in html
    raw = to_html(pd.DataFrame({"heard": ["<script>x</script>"]}))
    assert "<script>" not in raw and "&lt;script&gt;" in raw
    assert to_html(pd.DataFrame(), "none <yet>") == '<p class="empty">none &lt;yet&gt;</p>'


def test_speed_quality_chart():
    png = speed_quality_chart(_frame())
    assert png is not None and png[:8] == b"\x89PNG\r\n\x1a\n"
    assert data_uri(png).startswith("data:image/png;base64,iVBOR")
    assert speed_quality_chart(pd.DataFrame()) is None
    assert quality_table(pd.DataFrame()).empty and transcripts(pd.DataFrame()).empty


class _StubScorer:
    """Scores by the audio's peak: a stand-in for the models in the injected gate."""

    def score(self, samples, sample_rate, text):
        peak = float(np.max(np.abs(samples)))
        return figures(wer=1.0 - peak, ovrl=1.0 + 4.0 * peak)


def test_heard_check_is_the_gate_over_audio():
    check = q.heard_check(_StubScorer())
    ref = np.full(100, 0.9, dtype=np.float32)
    assert check(ref, ref.copy(), 16000, "hello there") == []
    failures = check(ref, np.full(100, 0.5, dtype=np.float32), 16000, "hello there")
    assert len(failures) == 2 and "WER" in failures[0] and "OVRL" in failures[1]
