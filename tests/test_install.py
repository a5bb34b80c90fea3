"""install.py, the README's install command: the CPU build of Paddle on a plain machine, and never a
second Paddle build beside one already installed (an AI Studio GPU session's paddlepaddle-gpu).

Each test makes a fresh virtual environment (without pip, so in a fraction of a second), puts
stand-in distributions in it (a ``.dist-info`` folder is what pip and importlib.metadata read), and
runs ``install.py`` with that environment's Python. A stand-in ``pip`` records the arguments it was
called with instead of installing anything, so the test sees exactly what would be installed, offline.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# A pip that installs nothing: it appends its arguments to $RECORDED_PIP_CALLS and succeeds.
STAND_IN_PIP = """
import json, os, sys
with open(os.environ["RECORDED_PIP_CALLS"], "a") as calls:
    calls.write(json.dumps(sys.argv[1:]) + "\\n")
"""


@pytest.fixture
def fresh_venv(tmp_path):
    """A new virtual environment -> (its python, its site-packages)."""
    folder = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False, symlinks=True).create(folder)
    python = folder / "bin" / "python"
    site = Path(
        subprocess.check_output(
            [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], text=True
        ).strip()
    )
    (site / "pip").mkdir()
    (site / "pip" / "__init__.py").write_text("")
    (site / "pip" / "__main__.py").write_text(STAND_IN_PIP)
    return python, site


def stand_in(site: Path, name: str, version: str) -> None:
    """A distribution that pip and importlib.metadata see as installed: its .dist-info and METADATA."""
    info = site / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    (info / "RECORD").write_text("")


def install(python: Path, tmp_path: Path, *flags: str) -> tuple[subprocess.CompletedProcess, list[list[str]]]:
    """Run install.py with ``python`` -> (the finished process, each pip call's arguments)."""
    calls = tmp_path / "pip-calls.jsonl"
    done = subprocess.run(
        [python, ROOT / "install.py", *flags],
        capture_output=True,
        text=True,
        timeout=60,
        env={"RECORDED_PIP_CALLS": str(calls), "PATH": "/usr/bin:/bin"},
    )
    recorded = [json.loads(line) for line in calls.read_text().splitlines()] if calls.exists() else []
    return done, recorded


def requested(arguments: list[str]) -> set[str]:
    """The distribution names one ``pip install`` call asks for, its -r files read (recursively)."""
    names = set()

    def add(requirement: str) -> None:
        match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
        if match:
            names.add(re.sub(r"[-_.]+", "-", match.group(1)).lower())

    def read(path: Path) -> None:
        for line in path.read_text().splitlines():
            line = line.split("#", 1)[0].strip()
            if line.startswith("-r"):
                read(path.parent / line[2:].strip())
            elif line and not line.startswith("-"):
                add(line)

    assert arguments[0] == "install"
    rest = iter(arguments[1:])
    for argument in rest:
        if argument == "-r":
            read(Path(next(rest)))
        elif argument in ("--index-url", "--extra-index-url"):
            next(rest)
        elif not argument.startswith("-"):
            add(argument)
    return names


def test_a_plain_machine_gets_the_cpu_build_and_everything_else(fresh_venv, tmp_path):
    python, _ = fresh_venv
    done, calls = install(python, tmp_path)
    assert done.returncode == 0, done.stderr
    assert len(calls) == 1
    names = requested(calls[0])
    assert "paddlepaddle" in names and "paddlepaddle-gpu" not in names
    assert {"numpy", "pillow", "opencv-python-headless", "onnxruntime", "matplotlib", "tqdm", "pytest"} <= names
    assert "Paddle: installing the CPU build" in done.stdout


def test_an_installed_gpu_build_is_kept_and_no_cpu_build_is_added(fresh_venv, tmp_path):
    python, site = fresh_venv
    stand_in(site, "paddlepaddle-gpu", "3.3.1")
    done, calls = install(python, tmp_path, "--dev")
    assert done.returncode == 0, done.stderr
    assert len(calls) == 1
    names = requested(calls[0])
    assert not {name for name in names if name.startswith("paddlepaddle")}  # neither build, nothing that is Paddle
    assert {"numpy", "onnxruntime", "ruff", "paddle2onnx", "playwright"} <= names  # the rest, --dev included
    assert "keeping paddlepaddle-gpu 3.3.1, already installed" in done.stdout


def test_requirements_files_name_paddle_in_one_place_only():
    # The guarantee above rests on this: only requirements-paddle.txt asks for a Paddle build.
    for path in ROOT.glob("requirements*.txt"):
        names = requested(["install", "-r", str(path)]) if path.name != "requirements-paddle.txt" else set()
        assert not {name for name in names if name.startswith("paddlepaddle")}, path.name
    assert requested(["install", "-r", str(ROOT / "requirements-paddle.txt")]) == {"paddlepaddle"}


def test_gpu_asks_paddles_index_for_the_gpu_build_before_the_rest(fresh_venv, tmp_path):
    python, _ = fresh_venv
    done, calls = install(python, tmp_path, "--gpu", "cu126")
    assert done.returncode == 0, done.stderr
    assert len(calls) == 2
    gpu, rest = calls
    assert requested(gpu) == {"paddlepaddle-gpu"} and gpu[gpu.index("--index-url") + 1].endswith("/stable/cu126/")
    assert not {name for name in requested(rest) if name.startswith("paddlepaddle")}
    assert "for CUDA 12.6" in done.stdout


def test_gpu_over_an_installed_cpu_build_is_refused_in_one_line(fresh_venv, tmp_path):
    python, site = fresh_venv
    stand_in(site, "paddlepaddle", "3.3.1")
    done, calls = install(python, tmp_path, "--gpu", "cu129")
    assert (done.returncode, calls) == (1, [])
    assert done.stderr.count("\n") == 1 and "python -m pip uninstall paddlepaddle" in done.stderr


def test_two_builds_already_side_by_side_are_named_and_nothing_is_installed(fresh_venv, tmp_path):
    python, site = fresh_venv
    stand_in(site, "paddlepaddle", "3.3.1")
    stand_in(site, "paddlepaddle_gpu", "3.2.0")  # the name as a wheel spells it, as importlib.metadata may too
    done, calls = install(python, tmp_path)
    assert (done.returncode, calls) == (1, [])
    assert "paddlepaddle 3.3.1, paddlepaddle-gpu 3.2.0" in done.stderr and done.stderr.count("\n") == 1
    assert "python -m pip uninstall -y paddlepaddle paddlepaddle-gpu" in done.stderr  # both: they share files


@pytest.mark.parametrize(
    "version, noted",
    [("2.6.2", True), ("3.0.0", False), ("0.0.0", False)],  # 0.0.0: a nightly build
)
def test_an_older_paddle_is_kept_with_a_note(fresh_venv, tmp_path, version, noted):
    python, site = fresh_venv
    stand_in(site, "paddlepaddle-gpu", version)
    done, calls = install(python, tmp_path, "--gpu", "cu126")
    assert done.returncode == 0 and len(calls) == 1  # kept: no GPU build installed over it
    assert f"keeping paddlepaddle-gpu {version}" in done.stdout
    assert ("tested with Paddle 3" in done.stdout) == noted


def test_dry_run_prints_the_commands_and_runs_none(fresh_venv, tmp_path):
    python, _ = fresh_venv
    done, calls = install(python, tmp_path, "--dry-run", "--dev")
    assert (done.returncode, calls) == (0, [])
    assert f"would run: {python} -m pip install -r {ROOT / 'requirements.txt'} -r {ROOT / 'requirements-dev.txt'}" in (
        done.stdout
    )


def test_a_failing_pip_is_reported_with_its_status(fresh_venv, tmp_path):
    python, site = fresh_venv
    (site / "pip" / "__main__.py").write_text("raise SystemExit(3)")
    done, _ = install(python, tmp_path)
    assert done.returncode == 3
    assert done.stderr.strip() == "install.py: pip failed (exit status 3); its message is above"


def test_the_ci_script_installs_with_the_readmes_command():
    readme, ci = (ROOT / "README.md").read_text(), (ROOT / ".ci" / "run").read_text()
    assert "python install.py  " in readme.split("## Two commands", 1)[1].split("```", 2)[1]
    assert "\npython install.py --dev\n" in ci


# A Python in which `import paddle` fails, as in an environment install.py has not finished: runs the
# tool named by argv[1] (a script, or -m module) with the rest of argv.
WITHOUT_PADDLE = """
import runpy, sys

class NoPaddle:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "paddle":
            raise ImportError(f"{name} is blocked by the test")

sys.meta_path.insert(0, NoPaddle())
tool, sys.argv = sys.argv[1], sys.argv[1:]
if tool == "-m":
    sys.argv = sys.argv[1:]
    runpy.run_module(sys.argv[0], run_name="__main__", alter_sys=True)
else:
    runpy.run_path(tool, run_name="__main__")
"""


@pytest.mark.parametrize(
    "command, what",
    [
        (["train.py", "--epochs", "1"], "training"),
        (["-m", "handwriting.evaluate", "models/cnn.pdparams"], "python -m handwriting.evaluate"),
    ],
)
def test_without_paddle_the_tools_that_need_it_say_how_to_install_it(command, what):
    done = subprocess.run(
        [sys.executable, "-c", WITHOUT_PADDLE, *command], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == (
        f"error: {what} runs only with PaddlePaddle, which is not installed here: python install.py "
        "(it adds the build that fits this machine)\n"
    )
