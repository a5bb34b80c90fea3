"""Make Paddle fast on the CPU it runs on. Imported by ``handwriting`` before Paddle loads.

Two things, both measured on our 2-core AMD EPYC machine (``bench/train_speed.py``):

1. Paddle's CPU wheels do their matrix products with Intel's MKL, which picks a slow generic
   code path on AMD processors. ``MKL_DEBUG_CPU_TYPE=5`` makes it use its AVX2 path instead:
   3x faster matrix products and 1.5x faster CNN training. It must be in the environment
   before MKL loads, so it is set here (only on AMD, and never over a value the user chose).
2. Paddle runs CPU kernels on one thread by default; ``use_all_cores`` gives it every core.

It also keeps Paddle's import quiet (``quiet_paddle_import_warnings``). This module imports no
Paddle itself, so ``--help`` and the NumPy-only code can use it.
"""

from __future__ import annotations

import os
import warnings
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from handwriting.parallel import Ranks

# Paddle warns on import when the ccache compiler cache is not installed. It matters only for
# compiling custom C++ operators, which this project never does, so a user need not see it.
PADDLE_CCACHE_WARNING = "No ccache found"  # the start of the message (a regular expression)


def _cpu_vendor() -> str:
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("vendor_id"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


def prepare_environment() -> None:
    """Set environment variables that must precede Paddle's import (idempotent)."""
    if _cpu_vendor() == "AuthenticAMD":
        os.environ.setdefault("MKL_DEBUG_CPU_TYPE", "5")


def quiet_paddle_import_warnings() -> None:
    """Hide Paddle's "No ccache found" import warning from here on; every other warning still shows.

    The command-line tools call this first thing in ``main``; to hide it for one import only,
    call it inside ``warnings.catch_warnings()``. (pytest's own filter is in pyproject.toml.)
    """
    warnings.filterwarnings("ignore", message=PADDLE_CCACHE_WARNING, category=UserWarning)


def available_cores() -> int:
    """How many CPU cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def use_all_cores(threads: int | None = None) -> int:
    """Let Paddle's CPU kernels use ``threads`` threads (default: every core we may run on)."""
    import paddle

    if threads is None:
        threads = available_cores()
    paddle.base.core.set_num_threads(threads)
    return threads


def gpu_available() -> bool:
    """Whether this Paddle build has CUDA and sees a GPU."""
    import paddle

    return paddle.device.is_compiled_with_cuda() and paddle.device.cuda.device_count() > 0


def pick_device(choice: str, ranks: Ranks | None = None) -> str:
    """'auto' -> 'gpu' when this Paddle build has CUDA and sees a GPU, else 'cpu'.

    On the CPU, the process gets every core, or its share of them when ``ranks``
    (``handwriting.parallel.Ranks``) says several processes run on this machine. On GPUs,
    ``paddle.distributed.launch`` has already told each process which GPU is its own.
    """
    import paddle

    from handwriting.errors import UserError

    has_gpu = gpu_available()
    if choice == "gpu" and not has_gpu:
        raise UserError("--device gpu: this Paddle build has no CUDA or no GPU is visible; use --device cpu")
    device = ("gpu" if has_gpu else "cpu") if choice == "auto" else choice
    paddle.set_device(device)
    if device == "cpu":
        sharing = ranks.local if ranks is not None else 1
        use_all_cores(max(1, available_cores() // sharing))
    return device


def synchronize() -> None:
    """Wait until the GPU has finished the work queued on it (nothing to wait for on the CPU): a
    clock read without it times how fast the work was queued, not how fast it ran."""
    import paddle

    if paddle.device.get_device().startswith("gpu"):
        paddle.device.synchronize()
