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


def test_require_names_the_extra() -> None:
    with pytest.raises(ExtraRequiredError, match=r"pip install 'svmlp\[torch\]'"):
        require("surely_not_a_module_xyz", extra="torch")
