"""Process-wide torch flags belong to each engine's calls; CUDA-only flags checked with mocks on the CPU."""

from __future__ import annotations

import os
from unittest import mock

import pytest
import torch

from tts_core import ConfigError, Engine, TierConfig
from tts_core import flags
from tts_core.runtime import cuda
from tts_core.constants import CUBLAS_DETERMINISTIC_CONFIG, ENV_CUBLAS_WORKSPACE_CONFIG
from tts_core.tiers import resolve_tier

CUDA1 = torch.device("cuda:1")  # never touched: flag_scope only sets Python-side backend flags


def _seen_threads(engine: Engine) -> list[int]:
    """Record the intra-op thread count inside every render of `engine`."""
    seen: list[int] = []
    render = engine._renderer.render

    def spy(*args, **kwargs):
        seen.append(torch.get_num_threads())
        return render(*args, **kwargs)

    engine._renderer.render = spy  # type: ignore[method-assign]
    return seen


def test_two_engines_each_see_their_own_threads_and_the_process_value_returns():
    before = torch.get_num_threads()
    one = Engine.load(voice="tiny", tier=TierConfig(name="t1", threads=1))
    two = Engine.load(voice="tiny", tier=TierConfig(name="t2", threads=2))
    assert torch.get_num_threads() == before  # loading left the process alone
    seen1, seen2 = _seen_threads(one), _seen_threads(two)
    for _ in range(2):  # interleaved
        one.synthesize("One thread here.")
        assert torch.get_num_threads() == before
        two.synthesize("Two threads there. And a second sentence.")
        assert torch.get_num_threads() == before
        list(one.stream("Streamed on one thread."))
    assert seen1 and set(seen1) == {1}
    assert seen2 and set(seen2) == {2}
    one.close(), two.close()


def test_cuda_flags_are_set_in_the_scope_and_restored():
    old = (torch.backends.cudnn.benchmark, torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    tier = resolve_tier("baseline+cuda_flags")
    with flags.flag_scope(tier, CUDA1):
        assert torch.backends.cudnn.benchmark and torch.backends.cuda.matmul.allow_tf32
        assert torch.backends.cudnn.allow_tf32
    assert (torch.backends.cudnn.benchmark, torch.backends.cuda.matmul.allow_tf32,
            torch.backends.cudnn.allow_tf32) == old


def test_baseline_touches_no_cuda_flag():
    old = (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32)
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = False, True  # a user's choice
    try:
        with flags.flag_scope(resolve_tier("baseline"), CUDA1):
            assert torch.backends.cudnn.allow_tf32 is False and torch.backends.cuda.matmul.allow_tf32 is True
            assert not torch.are_deterministic_algorithms_enabled() and not torch.backends.cudnn.benchmark
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = old


def test_deterministic_switch_is_scoped():
    tier = resolve_tier("baseline+deterministic")
    assert tier.deterministic and not resolve_tier("baseline").deterministic
    with flags.flag_scope(tier, CUDA1):
        assert torch.are_deterministic_algorithms_enabled() and torch.backends.cudnn.deterministic
    assert not torch.are_deterministic_algorithms_enabled() and not torch.backends.cudnn.deterministic


@pytest.mark.parametrize("preset, expected", [(None, CUBLAS_DETERMINISTIC_CONFIG), (":16:8", ":16:8")])
def test_deterministic_sets_the_cublas_workspace_only_if_unset(monkeypatch, preset, expected):
    if preset is None:
        monkeypatch.delenv(ENV_CUBLAS_WORKSPACE_CONFIG, raising=False)
    else:
        monkeypatch.setenv(ENV_CUBLAS_WORKSPACE_CONFIG, preset)
    with mock.patch.object(torch.cuda, "is_initialized", return_value=False):
        notes = flags.apply_load_flags(resolve_tier("baseline+deterministic"), CUDA1)
    assert os.environ[ENV_CUBLAS_WORKSPACE_CONFIG] == expected and notes == []


def test_a_non_deterministic_cublas_setting_is_reported(monkeypatch, caplog):
    monkeypatch.setenv(ENV_CUBLAS_WORKSPACE_CONFIG, ":0:0")
    with mock.patch.object(torch.cuda, "is_initialized", return_value=True):
        notes = flags.apply_load_flags(resolve_tier("baseline+deterministic"), CUDA1)
    assert [n.switch for n in notes] == ["deterministic"]
    assert any(CUBLAS_DETERMINISTIC_CONFIG in n.reason for n in notes)


def test_cuda_initialised_first_logs_what_to_do(monkeypatch, caplog):
    monkeypatch.delenv(ENV_CUBLAS_WORKSPACE_CONFIG, raising=False)
    with mock.patch.object(torch.cuda, "is_initialized", return_value=True):
        flags.apply_load_flags(resolve_tier("baseline+deterministic"), CUDA1)
    assert "before starting Python" in caplog.text


@pytest.mark.parametrize("device, index", [(CUDA1, 1), (torch.device("cuda"), 3)])
def test_memory_fraction_uses_the_engines_device_index(monkeypatch, device, index):
    monkeypatch.setattr(cuda, "_MEMORY_FRACTIONS", {})
    with mock.patch.object(torch.cuda, "set_per_process_memory_fraction") as setter, \
            mock.patch.object(torch.cuda, "current_device", return_value=3):
        flags.apply_load_flags(TierConfig(cuda_memory_fraction=0.25), device)
    setter.assert_called_once_with(0.25, index)


def test_a_second_engine_with_another_fraction_on_the_device_is_refused(monkeypatch):
    monkeypatch.setattr(cuda, "_MEMORY_FRACTIONS", {})
    with mock.patch.object(torch.cuda, "set_per_process_memory_fraction"):
        cuda.set_memory_fraction(0.25, CUDA1)
        cuda.set_memory_fraction(0.25, CUDA1)  # the same cap is fine
        cuda.set_memory_fraction(0.5, torch.device("cuda:0"))  # another device is fine
        with pytest.raises(ConfigError, match="`cuda_memory_fraction`"):
            cuda.set_memory_fraction(0.5, CUDA1)


def test_cpu_records_cuda_switches_as_not_applicable():
    from tts_core.tiers.build import not_applicable

    notes = not_applicable(resolve_tier("baseline+deterministic"), torch.device("cpu"))
    assert [str(n) for n in notes] == ["deterministic (no CUDA device)"]
    assert [(n.switch, n.fields) for n in not_applicable(resolve_tier("baseline+cuda_flags"), torch.device("cpu"))] \
        == [("cuda_flags", ("cudnn_benchmark", "tf32"))]
    assert not_applicable(resolve_tier("baseline+cuda_flags"), CUDA1) == []
