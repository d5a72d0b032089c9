"""The tidy result row: one per measured configuration. The store writes it, the report reads it.

Units are in the field names: `_s` seconds, `_mb` megabytes (2**20 bytes), `_db` decibels.
A field a measurement could not take (CUDA memory on a CPU, streaming figures for a batch workload)
is `None`, never 0.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

SCHEMA_VERSION = 2  # 2: paired rounds (speedup = geometric mean of per-round ratios), contenders, verdicts
STATUSES = ("ok", "failed", "skipped")


@dataclass
class ResultRow:
    # identity
    run_id: str  # one sweep invocation
    config_id: str  # stable hash of the configuration axes; resume skips ids already stored as ok/skipped
    status: str  # one of STATUSES
    error: str | None = None  # failed: what went wrong (exception type and message, signal, timeout, OOM)
    reason: str | None = None  # skipped: why (e.g. "cuda not available")
    timestamp: float = 0.0  # unix seconds when the row was written
    host: str = ""
    schema_version: int = SCHEMA_VERSION
    code_version: str = ""  # hash of the measured and measuring code (a finished comparison is reused only with it)

    # axes
    engine: str = "tts_core"  # adapter name: tts_core, piper-onnxruntime, espeak-ng, ...
    tier: str = ""  # baseline, optimized, advanced, or an ablation name such as "baseline+compile"
    hardware: str = ""  # cpu-1t, cpu-all, cuda, ...
    device: str = ""  # torch device string actually used
    threads: int | None = None
    model: str = ""  # joe-medium, tiny
    text: str = ""  # the text class: short, medium, long, file:<name>; "all" for a contender's pooled row
    text_chars: int | None = None  # median characters per round
    workload: str = ""  # single, batch, stream, repeated
    cached: bool | None = None  # repeated workload: True for the warm (cache-hit) rounds, False for fresh text

    # time
    load_s: float | None = None  # cold load in the contender's own worker process
    first_call_s: float | None = None  # first synthesis after load (includes lazy init / compile)
    rounds: int | None = None
    latency_mean_s: float | None = None
    latency_std_s: float | None = None
    latency_cv: float | None = None
    latency_p50_s: float | None = None
    latency_p90_s: float | None = None
    latency_p99_s: float | None = None
    latencies_s: list[float] = field(default_factory=list)  # every round, in round order
    rtfs: list[float] = field(default_factory=list)  # wall / audio seconds of every round, in round order
    noisy: bool | None = None  # paired ratios (else RTF) spread > 10% within a text class (stats.within_class_spread)

    # the comparison this row belongs to: every contender of a group spoke the same fresh texts, one worker
    # process each, in a balanced order (a Williams design per text class, see bench/measure/rounds.py)
    contender: str = ""  # engine:tier@hardware
    group_id: str = ""  # the comparison group (same texts, same rounds)
    reference: str | None = None  # the contender this row is compared with (its engine's baseline, or a tier's reference)
    stop_reason: str | None = None  # why the rounds stopped: interval within target, time budget, max rounds

    # speedup against `reference`: geometric mean of per-round ratios (reference RTF / this RTF, same text,
    # same round), 95% bootstrap interval over rounds (bench/results/stats.py)
    speedup: float | None = None
    speedup_ci_low: float | None = None
    speedup_ci_high: float | None = None
    speedup_pairs: int | None = None
    paired_ratios: list[float] = field(default_factory=list)
    ttfa_speedup: float | None = None  # the same statistic on time to first audio
    ttfa_speedup_ci_low: float | None = None
    ttfa_speedup_ci_high: float | None = None
    verdict: str | None = None  # pays / costs / no measurable difference / identical here / not exercised ...
    verdict_metric: str | None = None  # throughput, ttfa, load, or None when no verdict is given
    switch_diff: dict[str, Any] = field(default_factory=dict)  # resolved switches that differ from the reference
    comparisons: list[dict[str, Any]] = field(default_factory=list)  # further paired figures (vs peers, ...)

    # throughput
    audio_s: float | None = None  # audio seconds produced by one round
    rtf: float | None = None  # wall / audio (median round)
    throughput_audio_s_per_s: float | None = None
    throughput_chars_per_s: float | None = None

    # streaming
    ttfa_s: float | None = None  # time to first audio chunk
    first_audible_s: float | None = None  # time to the first chunk holding audible sound (bench.measure.audible), s
    chunk_gaps_s: list[float] = field(default_factory=list)
    underruns: int | None = None

    # stage breakdown (seconds per round)
    stage_frontend_s: float | None = None
    stage_encoder_s: float | None = None  # text encoder + duration predictor
    stage_flow_s: float | None = None
    stage_decoder_s: float | None = None
    # achieved GFLOP/s per stage: the stage's FLOPs (counted on the eager fp32 baseline, the same noise-free text)
    # over its seconds; against peak_gflops, how far each stage is from this machine's limit
    stage_encoder_gflops: float | None = None
    stage_flow_gflops: float | None = None
    stage_decoder_gflops: float | None = None

    # memory
    peak_rss_mb: float | None = None  # background sampler, >= 100 Hz: the overall peak (load and steady phases
    # together, as before the two below existed; kept for older rows and readers)
    load_peak_rss_mb: float | None = None  # peak RSS during load, calibration and the first call
    steady_peak_rss_mb: float | None = None  # peak RSS during the timed rounds (untimed passes excluded)
    max_rss_mb: float | None = None  # OS ru_maxrss
    cuda_max_allocated_mb: float | None = None
    cuda_max_reserved_mb: float | None = None
    mprof_file: str | None = None  # path of the memory_profiler timeline (.dat)

    # compute
    flops_per_audio_s: float | None = None  # the model's FLOPs (eager fp32 reference), the same for every tier
    achieved_gflops: float | None = None  # flops_per_audio_s / rtf
    peak_gflops: float | None = None  # this machine's measured matmul peak for the row's precision
    precision: str | None = None  # fp32, fp16, bf16, int8: the roofline peak it is plotted against

    # fidelity against the fp32 baseline, noise zeroed
    fid_frames_equal: bool | None = None
    fid_snr_db: float | None = None
    fid_max_abs: float | None = None
    fid_logmel_l1: float | None = None
    fid_mcd_db: float | None = None
    fid_spec_corr: float | None = None
    fid_silence_floor_db: float | None = None  # candidate's floor minus reference's floor
    fid_gate: str | None = None  # exact, half, int8
    fid_pass: bool | None = None
    fid_reference: str | None = None  # the contender whose noise-free audio this row was compared with

    # heard quality (bench/quality, the `quality` extra): ASR round trip and DNSMOS of the sample text's audio,
    # absolute and as the change against the engine's baseline on the same text and seed; None when skipped
    wer: float | None = None  # word error rate, fraction (0.05 = 5%)
    cer: float | None = None
    dnsmos_sig: float | None = None  # DNSMOS P.835, MOS 1-5
    dnsmos_bak: float | None = None
    dnsmos_ovrl: float | None = None
    wer_delta: float | None = None
    cer_delta: float | None = None
    dnsmos_sig_delta: float | None = None
    dnsmos_bak_delta: float | None = None
    dnsmos_ovrl_delta: float | None = None
    asr_transcript: str | None = None
    quality_gate: str | None = None  # the heard-quality gate's name, when a baseline was scored
    quality_pass: bool | None = None
    quality_s: float | None = None  # seconds the pass spent on this row's audio (0 on a cache hit)
    quality_texts: int | None = None  # texts scored (paired with the reference's audio of the same texts)
    quality_words: int | None = None  # words in those texts
    wer_delta_ci_low: float | None = None  # 95% bootstrap interval over texts of the mean WER delta (fraction)
    wer_delta_ci_high: float | None = None
    dnsmos_ovrl_delta_ci_low: float | None = None  # the same for the mean DNSMOS OVRL delta (MOS)
    dnsmos_ovrl_delta_ci_high: float | None = None
    quality_verdict: str | None = None  # pass / fail / not enough evidence (the gate on the intervals)

    # serving under load (`scenario=...`, MLPerf LoadGen; workload "serve"): one row per LoadGen run
    scenario: str | None = None  # singlestream, offline, server
    valid: str | None = None  # LoadGen's verdict: VALID or INVALID
    target_qps: float | None = None  # the rate LoadGen was asked for (server, offline)
    achieved_qps: float | None = None
    ttfa_p90_s: float | None = None  # first audio = LoadGen's first token (ttfa_s holds the median)
    ttfa_p99_s: float | None = None
    mean_batch_size: float | None = None  # sentences per engine call under load
    queries: int | None = None
    best_qps: bool | None = None  # server search: the highest VALID rate of this contender
    loadgen_summary: str | None = None  # mlperf_log_summary.txt of the run
    loadgen_detail: str | None = None  # mlperf_log_detail.txt of the run

    # a short audio sample (the report embeds it) and free-form extras
    sample_wav: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    env: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"ResultRow: `status` = {self.status!r}; expected one of {', '.join(STATUSES)}.")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ResultRow":
        """Build a row from stored JSON; unknown keys go to `extra` so newer files still load."""
        if not isinstance(data, dict):
            raise TypeError(f"a result row must be a JSON object, got {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        row = {k: v for k, v in data.items() if k in known}
        extra = dict(row.get("extra") or {})
        extra.update({k: v for k, v in data.items() if k not in known})
        row["extra"] = extra
        return cls(**row)
