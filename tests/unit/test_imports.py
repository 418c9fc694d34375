from __future__ import annotations

import subprocess
import sys

import pytest

from svmlp import ExtraRequiredError
from svmlp._optional import require


def test_import_svmlp_stays_light() -> None:
    code = (
        "import sys, svmlp, svmlp.formats, svmlp.cli, svmlp.stats, svmlp.synth;"
        "heavy = [m for m in ('torch', 'fiftyone', 'requests', 'pycocotools', 'shapely') if m in sys.modules];"
        "print(','.join(heavy))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == ""


def test_import_cli_is_cheap_and_the_api_lazy() -> None:
    """``svmlp.cli`` sets its signal handlers before numpy and the formats load (a Ctrl-C during
    those imports is then one line, not a traceback), so importing it must not load them; the
    public names still work, load on first use, and are the real objects."""
    code = (
        "import sys, svmlp, svmlp.cli;"
        "early = [m for m in ('numpy', 'PIL', 'svmlp.formats', 'svmlp.model') if m in sys.modules];"
        "from svmlp import read, Dataset, FORMATS;"
        "import svmlp.formats, svmlp.model;"
        "assert read is svmlp.formats.read and svmlp.write is svmlp.formats.write, 'lazy names';"
        "assert Dataset is svmlp.model.Dataset and FORMATS is svmlp.formats.FORMATS, 'lazy names';"
        "assert set(svmlp.__all__) <= set(dir(svmlp)), 'dir';"
        "assert all(hasattr(svmlp, n) for n in svmlp.__all__), '__all__';"
        "print(','.join(early))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == ""
    import svmlp

    with pytest.raises(AttributeError, match="no attribute 'not_a_name'"):
        svmlp.not_a_name  # type: ignore[attr-defined]  # noqa: B018


@pytest.mark.parametrize("argv", [["--help"], ["convert", "--help"], ["link", "--help"], ["audit", "--help"]])
def test_help_loads_neither_numpy_nor_the_formats(argv: list[str]) -> None:
    """``svmlp --help`` answers in the time Python takes to start (0.05 s here, not 0.12): the
    choices and defaults it lists come from modules that import nothing heavy."""
    code = (
        "import sys\n"
        "from svmlp.cli import main\n"
        "try:\n"
        f"    main({argv!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        "early = [m for m in ('numpy', 'PIL', 'msgspec', 'svmlp.formats', 'svmlp.links') if m in sys.modules]\n"
        "print('loaded:', ','.join(early), file=sys.stderr)\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "usage: svmlp" in run.stdout
    assert run.stderr.strip().splitlines()[-1] == "loaded:", run.stderr


def test_require_names_the_extra() -> None:
    with pytest.raises(ExtraRequiredError, match=r"pip install 'svmlp\[torch\]'"):
        require("surely_not_a_module_xyz", extra="torch")


@pytest.mark.parametrize(
    ("old", "new", "name"),
    [
        ("svmlp.download", "svmlp.release.download", "download"),
        ("svmlp.manifest", "svmlp.release.manifest", "load_manifest"),
        ("svmlp.verify", "svmlp.release.verification", "verify_release"),
        ("svmlp.sample", "svmlp.release.sample", "unpack_sample"),
    ],
)
def test_old_release_imports_still_work_and_say_where_they_moved(old: str, new: str, name: str) -> None:
    code = (
        "import warnings, importlib\n"
        "warnings.simplefilter('always')\n"
        "with warnings.catch_warnings(record=True) as w:\n"
        f"    old = importlib.import_module({old!r})\n"
        f"new = importlib.import_module({new!r})\n"
        f"assert getattr(old, {name!r}) is getattr(new, {name!r})\n"
        "public = [n for n in dir(new) if not n.startswith('_')]\n"
        "assert all(getattr(old, n) is getattr(new, n) for n in public), 'every name, constants too'\n"
        "print(*[str(x.message) for x in w if x.category is DeprecationWarning])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert f"{old} moved to {new}" in out
