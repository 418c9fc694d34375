"""What the benchmark scripts share: progress lines, best-of-N timing, the CPU's name.

The scripts run as ``python scripts/NAME.py``, so this folder is on ``sys.path``.
"""

from __future__ import annotations

import platform
import sys
from collections.abc import Callable
from pathlib import Path


def log(msg: str) -> None:
    """A progress line on stderr (stdout holds the table)."""
    print(msg, file=sys.stderr, flush=True)


def best(fn: Callable[[], float], repeat: int) -> float:
    """The smallest of ``repeat`` timings ``fn`` returns."""
    return min(fn() for _ in range(repeat))


def cpu_name(default: str | None = None) -> str:
    """The CPU's model name from ``/proc/cpuinfo``; ``default`` (or platform's guess) elsewhere."""
    fallback = default or platform.processor() or platform.machine() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return fallback
