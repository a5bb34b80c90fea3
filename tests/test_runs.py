"""A training run's files: one epoch is one commit, whatever instant the process dies; one run per
name at a time; names kept as given; a full or read-only disk costs nothing already saved."""

from __future__ import annotations

import errno
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

import train as train_script
from handwriting import runs
from handwriting.augment import DAMAGED_SHARE
from handwriting.config import TrainConfig
from handwriting.data.store import dataset_dir, load
from handwriting.engine import check_same_settings, fit
from handwriting.errors import UserError
from handwriting.runs import STEPS, RunError, RunFiles
from handwriting.weights import read_state

ROOT = Path(__file__).resolve().parent.parent
TIMINGS = ("seconds", "images_per_second")
# Three epochs of a small MLP with a validation split: some epochs are kept, some are not, so the
# published weights and the resume state's weights differ at times (the harder case to save).
# The augmentation is named: which epochs are kept depends on its random draws.
SETTINGS = dict(
    model="mlp-sigmoid", dataset="synth", epochs=3, batch_size=8, lr=0.5, max_steps=2, val_size=10, augment="affine"
)


@pytest.fixture
def tiny(synthetic):
    synthetic.write(dataset_dir(synthetic.spec))
    return load(synthetic.spec, download=False)


def quiet(message):
    pass


def settle(out: Path, name: str) -> dict:
    """Everything a run leaves that must not depend on interruptions: weights, optimizer state,
    metrics (without timings), the log; and the names of the files in its folders."""
    card = json.loads((out / f"{name}.json").read_text())
    resume = card["resume"]
    untimed = [{key: value for key, value in epoch.items() if key not in TIMINGS} for epoch in card["epochs"]]
    log = [json.loads(line) for line in (out / f"{name}.log.jsonl").read_text().splitlines()]
    return {
        "weights": read_state(out / f"{name}.pdparams"),
        "resume weights": read_state(out / f"{name}.run" / resume["weights"]),
        "optimizer": read_state(out / f"{name}.run" / resume["optimizer"]),
        "epochs": untimed,
        "kept": card["kept_epoch"],
        "log": [{key: value for key, value in line.items() if key not in TIMINGS} for line in log],
        "files": sorted(path.name for path in out.iterdir()),
        "state files": sorted(path.name.split("-", 1)[-1] for path in (out / f"{name}.run").iterdir()),
    }


def assert_same(first: dict, second: dict) -> None:
    assert first.keys() == second.keys()
    for key in first:
        if isinstance(first[key], dict) and key != "log":
            assert first[key].keys() == second[key].keys(), key
            for name in first[key]:
                if isinstance(first[key][name], np.ndarray):
                    np.testing.assert_array_equal(first[key][name], second[key][name], err_msg=f"{key}: {name}")
                else:
                    assert first[key][name] == second[key][name], (key, name)
        else:
            assert first[key] == second[key], key


KILLED_RUN = textwrap.dedent(
    """
    import sys
    from handwriting.config import TrainConfig
    from handwriting.data import registry
    from handwriting.data.store import load
    from handwriting.engine import check_same_settings, fit
    from tests.conftest import make_synthetic

    made = make_synthetic()  # the same files the test wrote; read, not written, by the processes
    registry.DATASETS[made.spec.name] = made.spec
    settings = {settings!r}
    fit(TrainConfig(**settings, out=sys.argv[1]), data=load(made.spec, download=False), log=lambda message: None)
    """
)


def train_until_killed(out: Path, kill_at: str) -> subprocess.CompletedProcess:
    """Train SETTINGS in a new process (on the data the ``tiny`` fixture wrote), killed at ``kill_at``."""
    environment = {**os.environ, runs.KILL_VARIABLE: kill_at}
    return subprocess.run(
        [sys.executable, "-c", KILLED_RUN.format(settings=SETTINGS), str(out)],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_a_run_killed_at_any_step_resumes_to_the_uninterrupted_result(tmp_path, tiny):
    fit(TrainConfig(**SETTINGS, out=str(tmp_path / "straight")), data=tiny, log=quiet)
    expected = settle(tmp_path / "straight", "mlp-sigmoid")

    assert expected["kept"] == 2  # epoch 2 is kept (new published weights), epoch 3 is not

    # SIGKILL at every step of epoch 2's save and at some of epoch 3's, each in its own process.
    points = [f"{step}@2" for step in STEPS] + ["optimizer@3", "card@3", "published@3"]
    kills = {point: tmp_path / f"killed-{point.replace('@', '-')}" for point in points}
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = dict(zip(kills, pool.map(lambda point: train_until_killed(kills[point], point), kills)))
    for point, out in kills.items():
        result = results[point]
        assert result.returncode == -signal.SIGKILL, (point, result.stderr[-2000:])
        card = json.loads((out / "mlp-sigmoid.json").read_text())
        # The card is the commit: before it is renamed, the run is at the epoch before; after, at this one.
        step, epoch = point.split("@")
        assert len(card["epochs"]) == int(epoch) - (STEPS.index(step) < STEPS.index("card")), point
        fit(TrainConfig(**SETTINGS, out=str(out)), resume=True, data=tiny, log=quiet)
        assert_same(settle(out, "mlp-sigmoid"), expected)


def test_killed_before_the_first_commit_leaves_no_run_to_resume(tmp_path, tiny):
    out = tmp_path / "models"
    assert train_until_killed(out, "optimizer@1").returncode == -signal.SIGKILL
    assert not (out / "mlp-sigmoid.json").exists()
    with pytest.raises(RunError, match="there is no run 'mlp-sigmoid'.*start it without --resume"):
        fit(TrainConfig(**SETTINGS, out=str(out)), resume=True, data=tiny, log=quiet)
    fit(TrainConfig(**SETTINGS, out=str(out)), data=tiny, log=quiet)  # a fresh start needs no --overwrite
    fit(TrainConfig(**SETTINGS, out=str(tmp_path / "straight")), data=tiny, log=quiet)
    assert_same(settle(out, "mlp-sigmoid"), settle(tmp_path / "straight", "mlp-sigmoid"))


TRAIN_PY = textwrap.dedent(
    """
    import sys
    import train
    from handwriting.data import registry
    from tests.conftest import make_synthetic

    made = make_synthetic()  # the files the `tiny` fixture wrote, registered in this process too
    registry.DATASETS[made.spec.name] = made.spec
    sys.exit(train.main(sys.argv[1:]))
    """
)


@pytest.mark.parametrize("signal_number,status", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_train_py_stopped_by_kill_or_ctrl_c_says_once_what_it_saved(tmp_path, tiny, signal_number, status):
    out, name = tmp_path / "models", "stopped"
    flags = ["--model", "mlp-sigmoid", "--dataset", "synth", "--epochs", "10000", "--batch-size", "8"]
    command = [sys.executable, "-u", "-c", TRAIN_PY, *flags, "--max-steps", "2", "--out", str(out), "--name", name]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for line in process.stdout:  # training for minutes: stopped after its first epoch is saved
            if line.startswith("epoch 1/"):
                break
        process.send_signal(signal_number)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    saved = len(json.loads((out / f"{name}.json").read_text())["epochs"])
    assert process.returncode == status, stderr[-2000:]
    assert "Traceback" not in stderr and "FatalError" not in stderr  # Paddle's own SIGTERM handler is gone
    resume = f"python train.py --out {shlex.quote(str(out))} --name {name} --resume"
    assert re.findall("interrupted.*", stderr) == [f"interrupted: {out / name} is saved up to epoch {saved}; "
                                                   f"continue with: {resume}"]  # fmt: skip


# ----------------------------------------------------------------------------- one run per name


def test_a_second_run_on_the_same_name_is_refused_while_the_first_holds_it(tmp_path, capsys):
    with RunFiles(tmp_path, "cnn").locked():
        # The lock is the operating system's (flock): a second open file is refused even in one process.
        assert train_script.main(["--out", str(tmp_path), "--name", "cnn"]) == 2
    error = capsys.readouterr().err.strip()
    assert error == (
        f"error: {tmp_path / 'cnn'} is being trained by another process (pid {os.getpid()}); "
        "wait for it to finish, or choose another --name"
    )


def test_a_lock_held_by_a_process_that_died_is_free(tmp_path, tiny):
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from handwriting.runs import RunFiles\n"
         "with RunFiles(sys.argv[1], 'mlp-sigmoid').locked(): print('locked', flush=True); time.sleep(60)",
         str(tmp_path)],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(RunError, match=f"another process \\(pid {holder.pid}\\)"):
            fit(TrainConfig(**SETTINGS, out=str(tmp_path)), data=tiny, log=quiet)
    finally:
        holder.kill()
        holder.wait()
    fit(TrainConfig(**SETTINGS, out=str(tmp_path)), data=tiny, log=quiet)


def test_an_existing_run_is_kept_unless_resumed_or_overwritten(tmp_path, tiny, capsys):
    fit(TrainConfig(**{**SETTINGS, "epochs": 1}, out=str(tmp_path)), data=tiny, log=quiet)
    before = {path.name: path.read_bytes() for path in tmp_path.iterdir() if path.is_file()}
    with pytest.raises(UserError, match="already holds a saved model or run.*--resume.*--overwrite"):
        fit(TrainConfig(**SETTINGS, out=str(tmp_path)), data=tiny, log=quiet)
    assert {path.name: path.read_bytes() for path in tmp_path.iterdir() if path.is_file()} == before
    card = fit(TrainConfig(**SETTINGS, out=str(tmp_path)), data=tiny, log=quiet, overwrite=True)
    assert len(card["epochs"]) == 3
    assert train_script.main(["--out", str(tmp_path), "--name", "x", "--resume", "--overwrite"]) == 2
    assert "give one of them" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["", ".", "..", ".hidden", "a/b", "../up", "a\\b", "tab\there", "x" * 201])
def test_a_name_is_a_file_name(tmp_path, name, capsys):
    assert train_script.main(["--out", str(tmp_path), "--name", name]) == 2
    error = capsys.readouterr().err
    assert error.startswith("error: --name") and error.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


def test_a_name_with_dots_is_kept_whole_and_never_touches_its_sibling(tmp_path, tiny):
    fit(TrainConfig(**{**SETTINGS, "epochs": 1}, name="ref30", out=str(tmp_path)), data=tiny, log=quiet)
    sibling = {path.name: path.read_bytes() for path in tmp_path.glob("ref30.*") if path.is_file()}
    fit(TrainConfig(**{**SETTINGS, "epochs": 2}, name="ref30.backup", out=str(tmp_path)), data=tiny, log=quiet)
    assert {path.name: path.read_bytes() for path in tmp_path.glob("ref30.*") if path.is_file()} == {
        **sibling,
        **{path.name: path.read_bytes() for path in tmp_path.glob("ref30.backup.*") if path.is_file()},
    }
    for suffix in ("pdparams", "json", "log.jsonl", "curves.png"):
        assert (tmp_path / f"ref30.backup.{suffix}").is_file() and (tmp_path / f"ref30.{suffix}").is_file()
    assert len(json.loads((tmp_path / "ref30.json").read_text())["epochs"]) == 1
    assert len(json.loads((tmp_path / "ref30.backup.json").read_text())["epochs"]) == 2


# ----------------------------------------------------------------------------- full and read-only disks


def failing_writes(monkeypatch, after: int, code: int):
    """Make the run's file writes fail with ``code`` after ``after`` of them have succeeded."""
    real = runs.write_bytes
    calls = []

    def write(path, data):
        calls.append(path)
        if len(calls) > after:
            raise OSError(code, os.strerror(code), str(path))
        real(path, data)

    monkeypatch.setattr(runs, "write_bytes", write)
    monkeypatch.setattr(runs, "save_card", lambda path, card: write(path, json.dumps(card).encode()))


@pytest.mark.parametrize("code,words", [(errno.ENOSPC, "the disk is full"), (errno.EROFS, "read-only file system")])
def test_a_full_disk_costs_only_the_epoch_being_saved(tmp_path, tiny, monkeypatch, code, words):
    out = tmp_path / "models"
    real_write_bytes, real_save_card = runs.write_bytes, runs.save_card
    writes_per_epoch = 5  # weights, optimizer, card, published weights, log
    failing_writes(monkeypatch, after=writes_per_epoch + 1, code=code)  # epoch 2's optimizer state
    with pytest.raises(RunError) as raised:
        fit(TrainConfig(**SETTINGS, out=str(out)), data=tiny, log=quiet)
    assert str(raised.value) == (
        f"cannot save epoch 2 in {out}: {words}; epoch 1 is saved, continue from it with --resume"
    )  # fmt: skip
    assert len(json.loads((out / "mlp-sigmoid.json").read_text())["epochs"]) == 1
    assert not [path for path in out.rglob(".*") if path.name != "lock"]  # no temporary file left
    monkeypatch.setattr(runs, "write_bytes", real_write_bytes)
    monkeypatch.setattr(runs, "save_card", real_save_card)
    fit(TrainConfig(**SETTINGS, out=str(out)), resume=True, data=tiny, log=quiet)
    fit(TrainConfig(**SETTINGS, out=str(tmp_path / "straight")), data=tiny, log=quiet)
    assert_same(settle(out, "mlp-sigmoid"), settle(tmp_path / "straight", "mlp-sigmoid"))


def test_an_output_folder_that_cannot_be_made_is_one_line(tmp_path, capsys):
    (tmp_path / "a-file").write_text("")
    assert train_script.main(["--out", str(tmp_path / "a-file"), "--name", "x"]) == 2
    error = capsys.readouterr().err
    assert error.startswith(f"error: cannot write to {tmp_path / 'a-file'}:") and error.count("\n") == 1


def test_resume_refuses_files_that_are_not_the_ones_saved(tmp_path, tiny):
    settings = {**SETTINGS, "epochs": 2}
    fit(TrainConfig(**settings, out=str(tmp_path)), data=tiny, log=quiet)
    card = json.loads((tmp_path / "mlp-sigmoid.json").read_text())
    optimizer = tmp_path / "mlp-sigmoid.run" / card["resume"]["optimizer"]
    data = bytearray(optimizer.read_bytes())
    data[len(data) // 2] ^= 1  # one bit of one number: a file that still loads, but not the one saved
    optimizer.write_bytes(bytes(data))
    with pytest.raises(RunError, match="is not the file mlp-sigmoid.json saved after epoch 2.*--overwrite"):
        fit(TrainConfig(**settings, out=str(tmp_path)), resume=True, data=tiny, log=quiet)
    optimizer.unlink()
    with pytest.raises(RunError, match="optimizer after epoch 2\\) cannot be read"):
        fit(TrainConfig(**settings, out=str(tmp_path)), resume=True, data=tiny, log=quiet)


def test_resuming_a_shipped_model_says_why_it_cannot(tmp_path, tiny):
    for suffix in ("pdparams", "json"):
        (tmp_path / f"mlp-sigmoid.{suffix}").write_bytes((ROOT / f"models/mlp-sigmoid.{suffix}").read_bytes())
    with pytest.raises(RunError, match="holds no resume state"):
        fit(TrainConfig(**SETTINGS, out=str(tmp_path)), resume=True, data=tiny, log=quiet)


def test_published_weights_that_lag_behind_their_card_are_refused_by_inference(tmp_path, tiny):
    from handwriting.checkpoint import CheckpointError, load_model

    fit(TrainConfig(**{**SETTINGS, "epochs": 1}, out=str(tmp_path)), data=tiny, log=quiet)
    load_model(tmp_path / "mlp-sigmoid.pdparams")
    weights = tmp_path / "mlp-sigmoid.pdparams"
    state = read_state(weights)
    from handwriting.weights import write_state

    write_state(weights, {key: value + 1 for key, value in state.items()})
    with pytest.raises(CheckpointError, match="is not the weights its card mlp-sigmoid.json was saved with.*--resume"):
        load_model(weights)


# ----------------------------------------------------------------------------- a resumed run keeps its settings


def test_resume_refuses_other_settings_in_one_line(tmp_path, tiny):
    fit(TrainConfig(**{**SETTINGS, "epochs": 2}, out=str(tmp_path)), data=tiny, log=quiet)
    for change in ({"lr": 0.01}, {"max_steps": 1}, {"epochs": 3}, {"seed": 7}):
        config = TrainConfig(**{**SETTINGS, "epochs": 2, **change}, out=str(tmp_path))
        with pytest.raises(UserError, match="--resume: .* was started with --.* a resumed run keeps its settings"):
            fit(config, resume=True, data=tiny, log=quiet)
    assert len(json.loads((tmp_path / "mlp-sigmoid.json").read_text())["epochs"]) == 2
    # On a constant learning rate, more epochs continue the same run.
    constant = {**SETTINGS, "lr_schedule": "constant"}
    fit(TrainConfig(**{**constant, "epochs": 1}, out=str(tmp_path / "c")), data=tiny, log=quiet)
    card = fit(TrainConfig(**{**constant, "epochs": 2}, out=str(tmp_path / "c")), resume=True, data=tiny, log=quiet)
    assert len(card["epochs"]) == 2


def test_train_py_resumes_with_the_run_s_own_settings(tmp_path, tiny):
    fit(TrainConfig(**{**SETTINGS, "epochs": 2}, name="smoke", out=str(tmp_path)), data=tiny, log=quiet)
    argv = ["--out", str(tmp_path), "--name", "smoke", "--resume"]
    args = train_script.build_parser().parse_args(argv)
    assert train_script.given_flags(argv) == {"out", "name", "resume"}
    options = train_script.training_options(args)
    saved = train_script.saved_settings(options)
    assert {key: saved[key] for key in ("model", "epochs", "max_steps", "lr", "val_size")} == {
        "model": "mlp-sigmoid", "epochs": 2, "max_steps": 2, "lr": 0.5, "val_size": 10
    }  # fmt: skip
    assert "out" not in saved and "name" not in saved and "device" not in saved


def test_a_run_resumes_as_it_was_built_after_a_model_default_changed(tmp_path, tiny, monkeypatch):
    """A run started with the model's defaults records every argument in its card; if a default
    changes before it is resumed (as the cnn's width did), train.py rebuilds the recorded model."""
    from handwriting.models import SigmoidMLP

    settings = dict(SETTINGS, epochs=1, augment="distort")
    fit(TrainConfig(**settings, out=str(tmp_path)), data=tiny, log=quiet)
    card = json.loads((tmp_path / "mlp-sigmoid.json").read_text())
    assert card["config"]["model_options"] == {} and card["model"]["options"]["hidden"] == [200]
    assert card["augment_settings"]["damaged_share"] == DAMAGED_SHARE  # the recipe's ranges, recorded
    old = SigmoidMLP.__init__.__defaults__  # (num_classes, in_shape, hidden, activation, dropout)
    monkeypatch.setattr(SigmoidMLP.__init__, "__defaults__", (*old[:2], (64,), *old[3:]))
    run = RunFiles(tmp_path, "mlp-sigmoid")

    options = train_script.saved_settings({"out": str(tmp_path), "model": "mlp-sigmoid"})
    assert options["model_options"] == card["model"]["options"]  # not {}, which now means 64 hidden units
    check_same_settings(TrainConfig(**options, out=str(tmp_path)), card, run)  # accepted
    with pytest.raises(UserError, match=r"--model-option \{'hidden': \[200\].*not \{'hidden': \[64\]"):
        check_same_settings(TrainConfig(**settings, out=str(tmp_path)), card, run)


def test_a_run_whose_augmentation_ranges_changed_is_not_resumed_on_the_new_ones(tmp_path, tiny, monkeypatch):
    settings = dict(SETTINGS, epochs=1, augment="distort")
    fit(TrainConfig(**settings, out=str(tmp_path)), data=tiny, log=quiet)
    card = json.loads((tmp_path / "mlp-sigmoid.json").read_text())
    run = RunFiles(tmp_path, "mlp-sigmoid")
    check_same_settings(TrainConfig(**settings, out=str(tmp_path)), card, run)  # unchanged: accepted
    monkeypatch.setattr("handwriting.augment.DAMAGED_SHARE", DAMAGED_SHARE / 2)
    with pytest.raises(
        UserError, match=rf"--augment distort at damaged_share {DAMAGED_SHARE} \(now {DAMAGED_SHARE / 2}\)"
    ):
        check_same_settings(TrainConfig(**settings, out=str(tmp_path)), card, run)
