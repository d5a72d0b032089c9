"""Root pytest configuration: keep every test's caches out of the user's home."""

from __future__ import annotations

import pytest

from tts_core.constants import ENV_CACHE_DIR


@pytest.fixture(scope="session", autouse=True)
def _isolated_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Converted weights, audio cache and calibration go to a per-session temporary folder."""
    mp = pytest.MonkeyPatch()
    mp.setenv(ENV_CACHE_DIR, str(tmp_path_factory.mktemp("tts_core_cache")))
    yield
    mp.undo()


@pytest.fixture
def one_thread():
    """One intra-op thread for the test: small models run faster on one, and on a shared, loaded machine
    two spinning OpenMP threads stretch wall time without changing what a test checks."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def tiny_engine():
    """The random-weight tiny voice under the baseline tier (fast; its audio is noise)."""
    from tts_core import Engine

    with Engine.load(voice="tiny", tier="baseline") as engine:
        yield engine


@pytest.fixture(scope="session")
def joe_engine():
    """The real joe voice, optimized tier (loads in about a second once weights are converted)."""
    from tts_core import Engine

    with Engine.load(voice="joe-medium", tier="optimized") as engine:
        yield engine
