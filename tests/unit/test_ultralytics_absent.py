"""Without ultralytics (the main venv), the plug-in's commands are one line naming the extra, and
`import svmlp` never imports ultralytics."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from svmlp.cli import main
from svmlp.ultralytics.parents import batch_parents, class_roles
from svmlp.ultralytics.run import is_ultralytics_checkpoint, overrides_of

absent = pytest.mark.skipif(
    importlib.util.find_spec("ultralytics") is not None, reason="ultralytics is installed"
)


def _fake_checkpoint(path: Path) -> Path:
    """A zip laid out as torch.save writes one, whose pickle names ultralytics' model classes."""
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("last/data.pkl", b"\x80\x02cultralytics.nn.tasks\nDetectionModel\nq\x00.")
        z.writestr("last/version", b"3\n")
    return path


@absent
def test_train_without_ultralytics_names_the_extra(
    sample_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        ["train", str(sample_dir), "--engine", "ultralytics", "--out", str(tmp_path / "r"), "mosaic=0"]
    )
    err = capsys.readouterr().err.strip()
    assert code == 2 and "pip install 'svmlp[ultralytics]'" in err and "AGPL-3.0" in err and "\n" not in err


@absent
def test_predict_of_an_ultralytics_checkpoint_names_the_extra(
    sample_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ckpt = _fake_checkpoint(tmp_path / "best.pt")
    assert is_ultralytics_checkpoint(ckpt) and not is_ultralytics_checkpoint(tmp_path)
    code = main(["predict", str(ckpt), str(sample_dir), "--split", "val", "-o", str(tmp_path / "p.json")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "svmlp[ultralytics]" in err and "\n" not in err


def test_ultralytics_arguments_need_the_ultralytics_engine(
    sample_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["train", str(sample_dir), "--out", str(tmp_path / "r"), "mosaic=0"]) == 2
    assert "KEY=VALUE arguments are ultralytics'; pass --engine ultralytics" in capsys.readouterr().err
    with pytest.raises(Exception, match="an ultralytics argument is KEY=VALUE"):
        overrides_of(["=3"])


def test_import_svmlp_never_imports_ultralytics() -> None:
    code = "import svmlp, svmlp.ultralytics, sys; print('ultralytics' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_parents_without_ultralytics() -> None:
    roles = class_roles({0: "license-plate", 1: "vehicle"})  # plates-us-eu's names, in its order
    assert roles.parents == (1,) and roles.children == (0,)
    assert batch_parents([1, 0], [[0, 0, 1, 1], [0.4, 0.8, 0.6, 0.9]], [0, 0], roles).tolist() == [-1, 0]
