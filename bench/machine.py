"""The machine a bench ran on, in one line for its results file.

    from bench.machine import describe_machine
    describe_machine()  # 'AMD EPYC, 2 cores, Python 3.11.7, NumPy 2.4.6, Paddle 3.3.1'

Speed figures mean little without the machine, and accuracy figures can move with library
versions: every bench that writes bench/results/ names both with this line.

Versions are read from the installed packages' metadata, nothing is imported: Paddle is slow to
import, and importing ``handwriting`` sets up the environment (threads, MKL) that the child
processes of bench/train_speed.py must start without — so the core count is not taken from
``handwriting.runtime`` either.
"""

from __future__ import annotations

import os
import platform
from importlib import metadata
from pathlib import Path

# Installed distribution -> how the line names it (Paddle's GPU build is another distribution).
PACKAGES = {"numpy": "NumPy", "paddlepaddle": "Paddle", "paddlepaddle-gpu": "Paddle", "onnxruntime": "onnxruntime"}


def cpu_name() -> str:
    """The CPU's model name as Linux reports it ('AMD EPYC'); elsewhere the architecture ('arm64')."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine()


def cores() -> int:
    """The CPU cores this process may run on (a container may allow fewer than the machine has)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def describe_machine(*extra: str) -> str:
    """'<CPU>, <N> cores, Python <version>, NumPy <version>, Paddle <version>', then the versions of
    the ``extra`` distributions named (e.g. ``"hypothesis"``); a package not installed is left out."""
    parts = [cpu_name(), f"{cores()} cores", f"Python {platform.python_version()}"]
    for name in [*PACKAGES, *extra]:
        try:
            version = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue  # not installed here (Paddle is one of its two builds)
        parts.append(f"{PACKAGES.get(name, name)} {version}")
    return ", ".join(parts)
