"""Install what this project needs into the Python that runs this script, fitting the machine.

    python install.py                 # everything; Paddle's CPU build unless a Paddle build is already here
    python install.py --dev           # also the tools the tests use (requirements-dev.txt)
    python install.py --gpu cu126     # Paddle's GPU build for CUDA 12.6 (cu118, cu126, cu129), from Paddle's index
    python install.py --dry-run       # print the pip commands, run nothing

Why a script and not only ``pip install -r requirements.txt``: Paddle comes as two packages,
``paddlepaddle`` (CPU) and ``paddlepaddle-gpu``, that install the same ``paddle`` module and must never
share an environment. pip cannot say "the CPU build, unless the GPU build is already there", which is
exactly the case of an AI Studio GPU session, where ``paddlepaddle-gpu`` comes preinstalled. So Paddle
is left out of requirements.txt, and this script adds the CPU build (requirements-paddle.txt) only
where no Paddle build is installed. It uses the standard library alone and runs ``pip`` in the Python
that runs it (so: activate your virtual environment first).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent
REQUIREMENTS = ROOT / "requirements.txt"  # everything but Paddle
CPU_PADDLE = ROOT / "requirements-paddle.txt"  # Paddle's CPU build, from the usual package index
DEV = ROOT / "requirements-dev.txt"  # the tests' tools
GPU_VERSION = "3.3.1"  # the GPU build --gpu installs: the release the CPU build was tested with
# Paddle publishes its 3.x GPU builds on its own package index, one folder per CUDA version (its
# installation guide lists them); the usual package index has only older GPU releases.
GPU_INDEX = "https://www.paddlepaddle.org.cn/packages/stable/{cuda}/"
CUDA_BUILDS = ("cu118", "cu126", "cu129")
CPU_BUILD = "paddlepaddle"


def paddle_builds() -> dict[str, str]:
    """The Paddle builds installed in this Python: {distribution name: version}, such as
    {"paddlepaddle-gpu": "3.3.1"}; every distribution named paddlepaddle or paddlepaddle-<kind>."""
    builds = {}
    for distribution in metadata.distributions():
        name = re.sub(r"[-_.]+", "-", distribution.metadata.get("Name") or "").lower()
        if name == CPU_BUILD or name.startswith(CPU_BUILD + "-"):
            builds[name] = distribution.version
    return builds


def plan(builds: dict[str, str], gpu: str | None, dev: bool) -> tuple[list[list[str]], str]:
    """The ``pip`` commands to run, in order (each a list of pip's arguments), and a line saying what
    happens to Paddle.

    Raises SystemExit with one line where installing would put two Paddle builds side by side.
    """
    arguments = ["install", "-r", str(REQUIREMENTS)]
    if dev:
        arguments += ["-r", str(DEV)]
    if len(builds) > 1:
        # Uninstalling one of them would delete the files of the `paddle` module they share, so the one
        # kept would be broken too: remove them all, then install the one wanted.
        listed = ", ".join(f"{name} {builds[name]}" for name in sorted(builds))
        raise SystemExit(
            f"install.py: this Python has {listed}: Paddle builds overwrite each other's files; remove them all "
            f"(python -m pip uninstall -y {' '.join(sorted(builds))}), then run install.py again (with --gpu CUDA "
            "for the GPU build)"
        )
    if gpu is not None:
        if CPU_BUILD in builds:
            raise SystemExit(
                f"install.py: --gpu: the CPU build ({CPU_BUILD} {builds[CPU_BUILD]}) is installed, and the two builds "
                f"must not share an environment; remove it first (python -m pip uninstall {CPU_BUILD}) or use a "
                "fresh virtual environment"
            )
        if builds:  # a GPU (or another accelerator's) build
            return [arguments], keeping(builds)
        # As Paddle's installation guide writes it: the GPU build alone from Paddle's index, then the rest.
        gpu_build = ["install", f"paddlepaddle-gpu=={GPU_VERSION}", "--index-url", GPU_INDEX.format(cuda=gpu)]
        cuda = f"{gpu[2:-1]}.{gpu[-1]}"  # cu126 -> 12.6
        return [gpu_build, arguments], f"Paddle: installing paddlepaddle-gpu {GPU_VERSION} for CUDA {cuda}"
    if builds:
        return [arguments], keeping(builds)
    arguments += ["-r", str(CPU_PADDLE)]
    return [arguments], "Paddle: installing the CPU build (on a CUDA machine: python install.py --gpu cu126)"


def keeping(builds: dict[str, str]) -> str:
    """The line saying that the one Paddle build installed stays, noting a release older than Paddle 3."""
    ((name, version),) = builds.items()
    major = version.split(".")[0]
    older = major.isdigit() and 0 < int(major) < 3  # a nightly build says 0.0.0: not older
    note = "; this project is tested with Paddle 3: upgrade it if anything fails" if older else ""
    return f"Paddle: keeping {name} {version}, already installed; not adding another build{note}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dev", action="store_true", help="also install requirements-dev.txt (default: off)")
    parser.add_argument(
        "--gpu",
        choices=CUDA_BUILDS,
        metavar="CUDA",
        help=f"install Paddle's GPU build for this CUDA version: {', '.join(CUDA_BUILDS)} (`nvidia-smi` shows the "
        "version the driver supports; pick the newest not above it) (default: the CPU build, unless a Paddle build is "
        "already installed)",
    )
    parser.add_argument("--dry-run", action="store_true", help="print the pip commands and run nothing (default: off)")
    args = parser.parse_args(argv)

    commands, what = plan(paddle_builds(), args.gpu, args.dev)
    print(what)
    for arguments in commands:
        command = [sys.executable, "-m", "pip", *arguments]
        print(("would run: " if args.dry_run else "running: ") + " ".join(command), flush=True)
        if args.dry_run:
            continue
        status = subprocess.call(command)
        if status != 0:
            print(f"install.py: pip failed (exit status {status}); its message is above", file=sys.stderr)
            return status
    return 0


if __name__ == "__main__":
    sys.exit(main())
