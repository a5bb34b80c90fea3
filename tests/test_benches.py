"""The accuracy benches (``bench/own_handwriting.py``, ``bench/redrawn.py``) run, tiny, from another folder.

Their figures are theirs, in bench/results/; here they run in seconds and must write what they print,
and every kind of picture the own-handwriting bench makes must come out as a picture infer.py reads.
"""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from handwriting.backends import PaddleBackend
from handwriting.preprocess import read_picture, to_mnist
from tests.conftest import REAL_ROOT

ROOT = Path(__file__).resolve().parent.parent


def bench_module(name: str):
    """A bench script imported as a module (its ``main`` is not run)."""
    spec = importlib.util.spec_from_file_location(f"bench_{name}", ROOT / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_bench(name: str, *flags: str, cwd: Path) -> subprocess.CompletedProcess:
    script = ROOT / "bench" / f"{name}.py"
    done = subprocess.run([sys.executable, str(script), *flags], cwd=cwd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return done


def test_every_kind_of_picture_the_bench_makes_is_read_as_its_digit(tmp_path):
    """One picture of each of the 14 kinds, saved in its file format, read back as infer.py reads it."""
    bench = bench_module("own_handwriting")
    assert len(bench.KINDS) == 14
    digits, frames = [], []
    for index, make in enumerate(bench.KINDS.values()):
        rng = np.random.default_rng(index)
        digit = index % 10
        picture, suffix = make(digit, rng)
        path = tmp_path / f"{index:02d}{suffix}"
        path.write_bytes(bench.encode(picture, suffix, rng))
        digits.append(digit)
        frames.append(to_mnist(read_picture(path)))  # uint8 [28, 28]; raises if no handwriting is found
    backend = PaddleBackend(ROOT / "models" / "cnn.pdparams", device="cpu")
    read = backend.probabilities(np.stack(frames)).argmax(axis=1)
    misread = {name: int(label) for name, label, digit in zip(bench.KINDS, read, digits) if label != digit}
    assert misread == {}


def test_the_own_handwriting_bench_writes_what_it_prints(tmp_path):
    out = tmp_path / "results"
    kinds = "fat marker,tablet canvas (alpha)"
    done = run_bench("own_handwriting", "--per-digit", "1", "--kinds", kinds, "--out", str(out), cwd=tmp_path)
    results = json.loads((out / "own_handwriting.json").read_text())
    assert list(results["kinds"]) == ["fat marker", "tablet canvas (alpha)"]
    assert [row["pictures"] for row in results["kinds"].values()] == [10, 10]
    overall = results["overall"]
    printed = done.stdout.splitlines()[-2].split()
    assert printed == ["all", "20", "pictures:", "mnist", f"{overall['mnist']:.2%}", "naive", f"{overall['naive']:.2%}"]
    table = (out / "own_handwriting.md").read_text()
    assert f"| **all** | 20 | **{overall['mnist']:.1%}** | | {overall['naive']:.1%} |" in table


def test_the_redrawn_bench_writes_what_it_prints(real_mnist, tmp_path):
    out = tmp_path / "results"
    done = run_bench("redrawn", "--count", "20", "--data-dir", str(REAL_ROOT), "--out", str(out), cwd=tmp_path)
    results = json.loads((out / "redrawn.json").read_text())
    assert (results["count"], results["seed"], results["model"]) == (20, 2024, "models/cnn.pdparams")
    table = (out / "redrawn.md").read_text()
    for recipe, row in results["recipes"].items():
        assert f"--preprocess {recipe:5s}: {row['right']:4d} of 20 read correctly" in done.stdout
        assert f"| `--preprocess {recipe}` | {row['right']} of 20 | **{row['accuracy']:.1%}** |" in table
    assert len(results["misread_mnist"]) == 20 - results["recipes"]["mnist"]["right"]


def test_the_fashion_photos_bench_writes_what_it_prints(real_fashion, tmp_path):
    out = tmp_path / "results"
    done = run_bench("fashion_photos", "--count", "20", "--data-dir", str(REAL_ROOT), "--out", str(out), cwd=tmp_path)
    results = json.loads((out / "fashion_photos.json").read_text())
    assert (results["count"], results["seed"], results["model"]) == (20, 2024, "models/fashion-cnn.pdparams")
    assert sorted(results["right"]) == ["direct", "fill", "mnist", "naive"]
    for right in results["right"].values():
        assert f"| {right / 20:.1%} | 20 |" in done.stdout
    assert (out / "fashion_photos.md").read_text().strip() == done.stdout.strip()


def test_the_numbers_bench_writes_what_it_prints(real_mnist, tmp_path):
    out = tmp_path / "results"
    done = run_bench(
        "read_numbers",
        "--rows",
        "3",
        "--longer-rows",
        "1",
        "--data-dir",
        str(REAL_ROOT),
        "--out",
        str(out),
        cwd=tmp_path,
    )
    results = json.loads((out / "read_numbers.json").read_text())
    assert list(results["styles"]) == ["drawing", "photo", "pencil", "ruled paper", "shadow"]
    assert results["all"]["rows"] == 15
    assert sum(row["digits"] for row in results["styles"].values()) in range(15 * 3, 15 * 6 + 1)
    longer = results["longer"]
    assert (longer["digits"], longer["all"]["rows"], list(longer["styles"])) == ([7, 8], 5, list(results["styles"]))
    assert sum(row["digits"] for row in longer["styles"].values()) in range(5 * 7, 5 * 8 + 1)
    table = (out / "read_numbers.md").read_text()
    assert table.strip() in done.stdout
    assert "## Longer rows: 7-8 digits" in table
    for style, row in results["styles"].items():
        assert f"{style:12s} exact {row['exact']:6.1%}   per character {row['per_character']:7.2%}\n" in done.stdout
        assert len(row["misread"]) == round(3 * (1 - row["exact"]))
    for style, row in longer["styles"].items():
        assert (
            f"{style:12s} exact {row['exact']:6.1%}   per character {row['per_character']:7.2%}   (7-8" in done.stdout
        )
    assert (out / "read_numbers.png").stat().st_size > 0


def test_a_bench_script_cannot_hide_pythons_own_modules():
    """A script's folder comes first on Python's path: a bench named like a module NumPy imports
    (numbers.py, for one) would break every other bench."""
    import sys as system

    standard = set(system.stdlib_module_names)
    assert [path.name for path in (ROOT / "bench").glob("*.py") if path.stem in standard] == []


def test_every_bench_names_the_machine_its_results_come_from():
    from bench.machine import cores, describe_machine

    # An extra distribution of requirements.txt (hypothesis, the fuzz bench's, is a dev requirement only).
    line = describe_machine("matplotlib")  # '<CPU>, 2 cores, Python 3.11.7, NumPy 2.4.6, Paddle 3.3.1, matplotlib 3.10'
    assert f", {cores()} cores, Python " in line and ", NumPy " in line and ", matplotlib " in line
    assert "nosuchpackage" not in describe_machine("nosuchpackage")  # not installed: left out
    benches = [path for path in (ROOT / "bench").glob("*.py") if path.name != "machine.py"]
    assert len(benches) == 16
    assert [path.name for path in benches if "describe_machine(" not in path.read_text()] == []


def test_the_augmentation_bench_names_only_real_corruptions_and_recipes():
    from handwriting.config import AUGMENTATIONS
    from handwriting.corruptions import CORRUPTIONS

    bench = bench_module("augmentation")
    assert set(bench.IMITATED) <= set(CORRUPTIONS)  # a misspelt name would count as "untaught"
    assert set(bench.CNN_RECIPES) <= set(AUGMENTATIONS)
