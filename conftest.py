"""Root pytest configuration: keep every test's caches out of the user's home, and under `pytest -n N`
(pytest-xdist, as `./dev.sh test` runs) give a test marked `alone` the machine to itself."""

from __future__ import annotations

import fcntl

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


@pytest.fixture(autouse=True)
def _alone_or_beside(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Under pytest-xdist every test holds a shared lock and a test marked `alone` an exclusive one, so the
    latter runs with no other test beside it (it injects load of its own, or reads what the machine does while
    it runs). The turnstile keeps a waiting `alone` test from being starved by the others' shared locks: a test
    passes it before taking its lock, and the `alone` test holds it until it has its own. Without xdist, or in a
    pytest that a test starts (it inherits xdist's environment, not its worker role): no lock."""
    if not hasattr(request.config, "workerinput"):
        yield
        return
    alone = request.node.get_closest_marker("alone") is not None
    folder = tmp_path_factory.getbasetemp().parent  # the run's folder, shared by its workers (popen-gw0, gw1, ...)
    with open(folder / "alone.turnstile", "w") as turnstile, open(folder / "alone.lock", "w") as lock:
        fcntl.flock(turnstile, fcntl.LOCK_EX)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX if alone else fcntl.LOCK_SH)
        finally:
            fcntl.flock(turnstile, fcntl.LOCK_UN)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
