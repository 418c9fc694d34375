"""Doctest collection of the package: the ultralytics plug-in's modules that import ultralytics
at their top are collected only where ultralytics is installed (.venv-ultralytics)."""

import importlib.util

if importlib.util.find_spec("ultralytics") is None:
    collect_ignore_glob = ["svmlp/ultralytics/_loss.py", "svmlp/ultralytics/_trainer.py"]
