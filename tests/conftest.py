from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from helpers import FIXTURES, PLATES  # noqa: E402

# the ultralytics plug-in's tests run in .venv-ultralytics (make test builds it), not beside the
# main venv's CPU torch, where ultralytics (and torchvision) cannot load
if importlib.util.find_spec("ultralytics") is None:
    collect_ignore_glob = ["ultralytics_plugin/*"]

os.environ.setdefault("HYPOTHESIS_PROFILE", "ci")
try:
    from hypothesis import HealthCheck, settings

    settings.register_profile(
        "ci",
        max_examples=60,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    settings.register_profile("thorough", parent=settings.get_profile("ci"), max_examples=1000)
    settings.load_profile(os.environ["HYPOTHESIS_PROFILE"])
except ImportError:  # pragma: no cover
    pass


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    if not FIXTURES.is_dir():
        pytest.fail(f"shared fixtures missing at {FIXTURES}; the checkout needs ../shared beside it")
    return FIXTURES


@pytest.fixture(scope="session")
def plates_dir() -> Path:
    if not PLATES.is_dir():
        pytest.fail(f"real data set missing at {PLATES}; the checkout needs ../shared beside it")
    return PLATES


@pytest.fixture(scope="session")
def sample_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The embedded sample release, unpacked once per session (read-only for tests)."""
    from svmlp.release.sample import unpack_sample

    return unpack_sample(tmp_path_factory.mktemp("sample") / "release")


@pytest.fixture(scope="session")
def fiftyone_db(tmp_path_factory: pytest.TempPathFactory):
    """``fiftyone``, connected to its real database (a mongod on a private folder of this session).

    Set FIFTYONE_DATABASE_URI to use another MongoDB instead. Fails (does not skip) when FiftyOne
    is installed but its database cannot be reached: ``make test`` sets the database up.
    """
    fo = pytest.importorskip("fiftyone")
    if not os.environ.get("FIFTYONE_DATABASE_URI"):
        folder = str(tmp_path_factory.getbasetemp().parent / "fiftyone-db")
        os.environ["FIFTYONE_DATABASE_DIR"] = folder  # for subprocesses: they share this mongod
        fo.config.database_dir = folder
    from svmlp.fiftyone._db import connect

    return connect()


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item: pytest.Item) -> None:
    """A doctest leaves its last value in ``builtins._``; one that is a tuple holding a list
    claims to be hashable and is not, and pydash (imported by FiftyOne) hashes every builtin at
    import: a FiftyOne test after such a doctest in the same worker failed to import it."""
    import builtins

    if isinstance(item, pytest.DoctestItem) and hasattr(builtins, "_"):
        del builtins._
