"""pytest-benchmark glue for `pytest bench/`: options, hooks and fixtures only; the tests live in bench/benchmarks/.

    pytest bench/ --benchmark-autosave                      # the real voice (joe-medium)
    pytest bench/ --bench-model tiny --benchmark-autosave   # the tiny random voice, for CI speed
    pytest bench/ --benchmark-compare --benchmark-compare-fail=median:10%

The model can also come from the environment through pytest itself: PYTEST_ADDOPTS="--bench-model tiny".
"""

from __future__ import annotations

from typing import Any, Callable, Iterator

import pytest

MODELS = ("joe-medium", "tiny")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("tts-bench", "TTS engine benchmarks (bench/benchmarks)")
    group.addoption("--bench-model", choices=MODELS, default="joe-medium",
                    help="voice to benchmark: joe-medium (the real Piper voice, default) or tiny (random weights, fast)")
    group.addoption("--bench-rounds", type=int, default=5, help="timed rounds per configuration (default 5)")
    group.addoption("--bench-warmup", type=int, default=1, help="untimed warm-up rounds per configuration (default 1)")


def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def hardware_cases() -> list[str]:
    """The `hardware` values the benchmarks run on here: cpu always, cuda only where a GPU is visible."""
    return ["cpu"] + (["cuda"] if _cuda_available() else [])


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """`hardware`: one case per `hardware_cases()` (no skipped cuda tests on CPU machines)."""
    if "hardware" in metafunc.fixturenames:
        metafunc.parametrize("hardware", hardware_cases(), scope="session")


def pytest_benchmark_update_machine_info(config: pytest.Config, machine_info: dict[str, Any]) -> None:
    """Add what tells two machines apart for inference: torch, CPU model and SIMD flags, threads, GPU."""
    import torch

    from bench import env

    flags = env.cpu_flags()
    machine_info["torch"] = torch.__version__
    machine_info["cpu_model"] = env.cpu_model()
    machine_info["cpu_simd"] = {
        "avx2": "avx2" in flags,
        "avx512": any(f.startswith("avx512") for f in flags),
        "vnni": any("vnni" in f for f in flags),
        "amx": any(f.startswith("amx") for f in flags),
    }
    machine_info["torch_threads"] = torch.get_num_threads()
    machine_info["torch_interop_threads"] = torch.get_num_interop_threads()
    machine_info["cuda_version"] = torch.version.cuda
    machine_info["gpu"] = None
    machine_info["gpu_memory_mb"] = None
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        machine_info["gpu"] = props.name
        machine_info["gpu_memory_mb"] = round(props.total_memory / 2**20)
    machine_info["bench_model"] = config.getoption("--bench-model")


@pytest.fixture(scope="session")
def bench_model(request: pytest.FixtureRequest) -> str:
    return request.config.getoption("--bench-model")


@pytest.fixture(scope="session")
def bench_rounds(request: pytest.FixtureRequest) -> tuple[int, int]:
    """(timed rounds, warm-up rounds)."""
    return request.config.getoption("--bench-rounds"), request.config.getoption("--bench-warmup")


@pytest.fixture(scope="session")
def engine_for(bench_model: str) -> Iterator[Callable[[str, str], Any]]:
    """`engine_for(tier, hardware)`: a loaded Engine, built once per session and closed at the end.

    Loading (and any compile) stays out of the timed rounds; benchmarks see only synthesis.
    """
    from tts_core import Engine

    engines: dict[tuple[str, str], Any] = {}

    def get(tier: str, hardware: str) -> Any:
        if (tier, hardware) not in engines:
            engines[tier, hardware] = Engine.load(voice=bench_model, device=hardware, tier=tier, seed=0)
        return engines[tier, hardware]

    yield get
    for engine in engines.values():
        engine.close()


@pytest.fixture(scope="session")
def reference_audio(engine_for: Callable[[str, str], Any]) -> Callable[[str, str], Any]:
    """`reference_audio(text, hardware)`: the baseline tier's audio with noise zeroed (the fidelity reference)."""
    cache: dict[tuple[str, str], Any] = {}

    def get(text: str, hardware: str) -> Any:
        if (text, hardware) not in cache:
            engine = engine_for("baseline", hardware)
            engine.clear_cache()
            cache[text, hardware] = engine.synthesize(text, noise_scale=0.0, noise_w=0.0)
        return cache[text, hardware]

    return get
