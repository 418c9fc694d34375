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


def test_require_names_the_extra() -> None:
    with pytest.raises(ExtraRequiredError, match=r"pip install 'svmlp\[torch\]'"):
        require("surely_not_a_module_xyz", extra="torch")
