"""The command lines: ``python -m handwriting.data`` on a synthetic dataset; ``--help`` of every
tool without Paddle; inference without the training engine."""

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from handwriting.data import registry
from handwriting.data.__main__ import main
from handwriting.data.store import dataset_dir
from tests.conftest import FakeSource


@pytest.fixture
def fetchable(synthetic, monkeypatch):
    spec = dataclasses.replace(synthetic.spec, sources=(FakeSource(synthetic.contents, label="fake mirror"),))
    monkeypatch.setitem(registry.DATASETS, spec.name, spec)
    return spec


def test_fetch_then_fetch_again(fetchable, capsys):
    assert main(["fetch", "synth"]) == 0
    assert "fetched 4 file(s)" in capsys.readouterr().out
    assert main(["fetch", "synth"]) == 0
    assert "nothing fetched" in capsys.readouterr().out


def test_fetch_into_data_dir_flag(fetchable, synthetic, tmp_path, isolated_data_root, capsys):
    assert main(["fetch", "synth", "--data-dir", str(tmp_path / "elsewhere")]) == 0
    folder = tmp_path / "elsewhere" / "synth"
    assert {path.name: path.read_bytes() for path in folder.iterdir()} == synthetic.contents
    assert not isolated_data_root.exists()  # the default data folder is left alone


def test_info_json_reports_counts_per_split_and_class(fetchable, synthetic, capsys):
    main(["fetch", "synth"])
    capsys.readouterr()
    assert main(["info", "synth", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["splits"]["train"]["count"] == 30
    assert report["splits"]["test"]["count"] == 12
    assert report["splits"]["train"]["per_class"] == {str(digit): 3 for digit in range(10)}
    # Test labels 0 3 6 9 2 5 8 1 4 7 0 3: counted per class, each under its own label.
    assert report["splits"]["test"]["per_class"] == {str(digit): 2 if digit in (0, 3) else 1 for digit in range(10)}
    assert report["files"]["t10k-images-idx3-ubyte"]["sha256"] == fetchable.splits["test"].images.sha256
    assert report["location"] == str(dataset_dir(fetchable))


def test_info_table(fetchable, capsys):
    main(["fetch", "synth"])
    assert main(["info", "synth"]) == 0
    out = capsys.readouterr().out
    assert "train: 30 images of 28x28\n  per class: 0:3  1:3  2:3  3:3  4:3  5:3  6:3  7:3  8:3  9:3\n" in out
    assert "test: 12 images of 28x28\n  per class: 0:2  1:1  2:1  3:2  4:1  5:1  6:1  7:1  8:1  9:1\n" in out


def test_info_on_truncated_file_is_one_line_naming_it(fetchable, capsys):
    main(["fetch", "synth"])
    capsys.readouterr()
    path = dataset_dir(fetchable) / "t10k-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:1000])
    assert main(["info", "synth", "--json"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"error: {path}: truncated")


def test_info_never_fetches(fetchable, capsys):
    assert main(["info", "synth"]) == 2
    assert capsys.readouterr().err == (
        f"error: {dataset_dir(fetchable) / 'train-images-idx3-ubyte'}: missing (neither raw nor .gz); "
        "run `python -m handwriting.data fetch synth` to fetch a good copy\n"
    )
    assert fetchable.sources[0].calls == []


def test_unknown_dataset(capsys):
    assert main(["info", "nope"]) == 2
    error = capsys.readouterr().err
    assert "unknown dataset 'nope'; choose one of: emnist-balanced," in error and "fashion-mnist, mnist" in error


def test_fetch_failure_exits_2_with_one_line(synthetic, capsys):
    spec = dataclasses.replace(synthetic.spec, sources=(FakeSource({}, unavailable="offline"),))
    registry.DATASETS[spec.name] = spec
    assert main(["fetch", "synth"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: could not get synthetic digits") and "offline" in err[-1]


def test_list_says_which_datasets_are_there_verified(synthetic, isolated_data_root, tmp_path, capsys):
    """Each dataset with whether its files are all there and verified, missing, or partly bad."""
    folder = isolated_data_root / synthetic.spec.name
    folder.mkdir(parents=True)
    for name, data in synthetic.contents.items():
        (folder / name).write_bytes(data)
    assert main(["list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert (
        "mnist            MNIST handwritten digits (10 classes): not fetched: python -m handwriting.data fetch mnist"
        in lines
    )
    assert f"synth            {synthetic.spec.title} (10 classes): all 4 files verified in {folder}" in lines
    assert lines[-1] == f"data folder: {isolated_data_root}"

    (folder / "t10k-labels-idx1-ubyte").write_bytes(b"not labels")  # one file bad
    assert main(["list", "--data-dir", str(isolated_data_root)]) == 0
    lines = capsys.readouterr().out.splitlines()
    fetch = "python -m handwriting.data fetch synth"
    assert f"synth            {synthetic.spec.title} (10 classes): 1 of 4 files missing or bad: {fetch}" in lines

    assert main(["list", "--data-dir", str(tmp_path / "elsewhere")]) == 0  # --data-dir is where it looks
    lines = capsys.readouterr().out.splitlines()
    assert f"synth            {synthetic.spec.title} (10 classes): not fetched: {fetch}" in lines
    assert lines[-1] == f"data folder: {tmp_path / 'elsewhere'}"


def test_module_runs_as_a_program_without_a_traceback(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "handwriting.data", "info", "mnist", "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=ROOT,  # where ``handwriting`` is, from wherever pytest runs
    )
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr == (
        f"error: {tmp_path / 'mnist' / 'train-images-idx3-ubyte'}: missing (neither raw nor .gz); "
        "run `python -m handwriting.data fetch mnist` to fetch a good copy\n"
    )  # one line, no traceback


def test_bad_flag_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["info", "mnist", "--colour"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.endswith("error: unrecognized arguments: --colour\n")


def test_a_closed_pipe_ends_quietly():
    # `python infer.py work/ | head -1`: the reader goes away after one line.
    root = Path(__file__).resolve().parent.parent
    command = f"{sys.executable} infer.py work/ | head -1"
    result = subprocess.run(command, shell=True, capture_output=True, text=True, timeout=120, cwd=root)
    assert result.stdout.count("\n") == 1 and "Traceback" not in result.stderr and "BrokenPipe" not in result.stderr


# ----------------------------------------------------------------------------- what the tools import

ROOT = Path(__file__).resolve().parent.parent
HELP = [
    (["train.py", "--help"], "--model {linreg,softmax,mlp-sigmoid,mlp,lenet5,cnn,cnn-fast}"),
    (["infer.py", "--help"], "--preprocess {auto,mnist,emnist,fill,naive}"),
    (["-m", "handwriting.evaluate", "--help"], "--out-dir DIR"),
]


def without(modules: tuple[str, ...], tmp_path: Path) -> dict:
    """An environment in which importing any of ``modules`` raises ImportError: a package of that
    name, first on PYTHONPATH, that raises as it is imported."""
    for name in modules:
        (tmp_path / name).mkdir()
        (tmp_path / name / "__init__.py").write_text(f"raise ImportError('{name} is blocked by this test')\n")
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")]))}


def test_blocked_modules_cannot_be_imported(tmp_path):
    # The control for the test below: the blocker does stop Paddle (and with it the training engine).
    environment = without(("paddle", "cv2"), tmp_path)
    for module in ("paddle", "cv2", "handwriting.engine"):
        done = subprocess.run(
            [sys.executable, "-c", f"import {module}"], cwd=ROOT, env=environment, capture_output=True, text=True
        )
        assert done.returncode == 1 and "is blocked by this test" in done.stderr, module


@pytest.mark.parametrize("command,choice", HELP, ids=[" ".join(command) for command, _ in HELP])
def test_help_answers_without_paddle_or_opencv(tmp_path, command, choice):
    # --help is what a newcomer types first; it must not wait seconds for Paddle to import (or
    # need OpenCV). A module-level `import paddle` in a tool, or in what its parser reads, fails here.
    done = subprocess.run(
        [sys.executable, *command], cwd=ROOT, env=without(("paddle", "cv2"), tmp_path), capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("usage: ") and choice in done.stdout


def test_the_plain_lists_of_choices_name_what_is_registered():
    # --help reads handwriting.config's plain lists; each must name exactly what its registry holds.
    from handwriting.backends import BACKENDS
    from handwriting.config import BACKEND_NAMES, MODEL_NAMES, PREPROCESS_NAMES
    from handwriting.models import MODELS
    from handwriting.preprocess import PREPROCESSORS

    assert (tuple(MODELS), tuple(PREPROCESSORS), tuple(BACKENDS)) == (MODEL_NAMES, PREPROCESS_NAMES, BACKEND_NAMES)


def test_every_augmentation_offered_is_one_the_engine_applies():
    # A name in the list but in no recipe table would train with no augmentation, silently.
    from handwriting.augment import BATCH_AUGMENTATIONS
    from handwriting.config import AUGMENTATIONS

    fixed = {"none", "rotate10"}  # nothing, and copies made once before training (engine.split_data)
    assert set(AUGMENTATIONS) == set(BATCH_AUGMENTATIONS) | fixed and not fixed & set(BATCH_AUGMENTATIONS)


def test_inference_imports_no_training_code():
    # infer.py and evaluate predict with models.decide; the training engine stays out of their process.
    program = """if True:
        import sys
        import numpy as np
        from handwriting import evaluate
        from handwriting.backends import PaddleBackend
        backend = PaddleBackend("models/cnn.pdparams", device="cpu")
        frames = np.zeros((2, 28, 28), np.uint8)
        assert backend.probabilities(frames).shape == (2, 10)
        assert evaluate.predict(backend.model, backend.task, frames, 10)[0].shape == (2,)
        print(sorted(name for name in sys.modules if name in ("handwriting.engine", "handwriting.augment")))
    """
    done = subprocess.run([sys.executable, "-c", program], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"


def test_counts_are_said_in_the_right_number():
    from handwriting.errors import counted

    assert [counted(n, "epoch") for n in (0, 1, 2, 1000)] == ["0 epochs", "1 epoch", "2 epochs", "1,000 epochs"]


def test_train_help_states_the_share_of_pictures_wave_and_distort_damage():
    # --help cannot import handwriting.augment (it imports Paddle), so it writes the share out.
    import train as train_script
    from handwriting.augment import DAMAGED_SHARE

    help_text = " ".join(train_script.build_parser().format_help().split())
    assert f"on {DAMAGED_SHARE:.0%} of the pictures a shaky hand" in help_text
