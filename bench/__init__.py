"""riskmon benchmarks: speed and memory figures printed as one JSON object.

``python -m bench [--quick] [--only NAME ...]``; see bench/README.md. Timed figures live here, never
in tests: tests check behaviour, benchmarks report how fast and how big, against their targets.
"""

from __future__ import annotations

import os
import platform
import sys
from typing import Any

import numpy as np

__all__ = ["Result", "machine", "progress"]

# One benchmark's figures: numbers and strings, plus "target" and "met".
Result = dict[str, Any]


def machine() -> dict[str, object]:
    """What the figures were measured on."""
    return {
        "cpu_count": os.cpu_count(),
        "cpu": _cpu_model(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "numpy": np.__version__,
        "platform": platform.platform(),
    }


def progress(message: str) -> None:
    """Progress goes to stderr; stdout carries only the JSON result."""
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"
