"""Weights both ways between the Paddle MLPs and the NumPy network (handwriting.bridge)."""

import shutil
from pathlib import Path

import numpy as np
import paddle
import pytest

from handwriting.bridge import main, paddle_to_scratch, scratch_to_paddle
from handwriting.checkpoint import load_model
from handwriting.scratch.files import load as load_scratch

MODELS = Path(__file__).resolve().parent.parent / "models"


@pytest.fixture
def frames():
    """A batch of inputs [N, 1, 28, 28] in [-1, 1], as every backend is fed."""
    return np.random.default_rng(0).uniform(-1, 1, (16, 1, 28, 28)).astype(np.float32)


@pytest.mark.parametrize("name", ["mlp-sigmoid", "mlp"])
def test_paddle_mlp_to_numpy_gives_the_same_logits(name, frames):
    model, _ = load_model(MODELS / f"{name}.pdparams")
    net, card = paddle_to_scratch(MODELS / f"{name}.pdparams")
    with paddle.no_grad():
        expected = model(paddle.to_tensor(frames)).numpy()
    np.testing.assert_allclose(net.forward(frames), expected, atol=1e-4, rtol=0)
    assert card["inputs"] == "minus-one-to-one" and card["classes"] == list("0123456789")


def test_numpy_network_to_paddle_gives_the_same_logits(frames):
    net, _ = load_scratch(MODELS / "scratch.npz")
    model, card = scratch_to_paddle(MODELS / "scratch.npz")
    with paddle.no_grad():
        logits = model(paddle.to_tensor(frames)).numpy()
    np.testing.assert_allclose(logits, net.forward(frames), atol=1e-4, rtol=0)
    assert card["model"]["name"] == "mlp" and card["model"]["options"]["hidden"] == [200]


def test_the_articles_bias_free_sigmoid_output_net_reads_the_same_digits(tmp_path, frames):
    from handwriting.scratch import mlp
    from handwriting.scratch.files import network_card, save

    options = {"hidden": [30], "bias": False, "sigmoid_output": True}
    net = mlp(hidden=(30,), bias=False, sigmoid_output=True, seed=1)
    save(tmp_path / "article", net, network_card(options, "minus-one-to-one", list("0123456789")))
    model, _ = scratch_to_paddle(tmp_path / "article.npz")
    with paddle.no_grad():
        logits = model(paddle.to_tensor(frames)).numpy()
    outputs = net.forward(frames)
    np.testing.assert_allclose(
        1 / (1 + np.exp(-logits)), outputs, atol=1e-5
    )  # Paddle returns what precedes the sigmoid
    assert (logits.argmax(axis=1) == outputs.argmax(axis=1)).all()


def test_command_line_writes_to_runs_and_leaves_the_models_folder_alone(tmp_path, frames, capsys, monkeypatch):
    models = tmp_path / "models"
    models.mkdir()
    for name in ("mlp-sigmoid.pdparams", "mlp-sigmoid.json", "scratch.npz", "scratch.json"):
        shutil.copy(MODELS / name, models / name)
    before = {path.name: path.read_bytes() for path in models.iterdir()}
    monkeypatch.chdir(tmp_path)  # as the README runs it: from the repository's root
    assert main(["models/mlp-sigmoid.pdparams"]) == 0
    assert main(["models/scratch.npz"]) == 0
    assert capsys.readouterr().out == (
        "wrote runs/mlp-sigmoid.numpy.npz and runs/mlp-sigmoid.numpy.json\n"
        "wrote runs/scratch.paddle.pdparams and runs/scratch.paddle.json\n"
    )
    assert {path.name: path.read_bytes() for path in models.iterdir()} == before  # nothing added or changed
    # What was written computes what its source computes.
    runs = tmp_path / "runs"
    converted, _ = load_model(runs / "scratch.paddle.pdparams")  # a train.py-style checkpoint that loads
    source, _ = load_model(models / "mlp-sigmoid.pdparams")
    scratch, _ = load_scratch(models / "scratch.npz")
    twin, _ = load_scratch(runs / "mlp-sigmoid.numpy.npz")
    inputs = paddle.to_tensor(frames)
    with paddle.no_grad():
        np.testing.assert_allclose(converted(inputs).numpy(), scratch.forward(frames), atol=1e-4, rtol=0)
        np.testing.assert_allclose(twin.forward(frames), source(inputs).numpy(), atol=1e-4, rtol=0)


def test_command_line_replaces_its_own_files_only_with_overwrite(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main([str(MODELS / "scratch.npz")]) == 0
    written = {path.name: path.stat().st_mtime_ns for path in (tmp_path / "runs").iterdir()}
    capsys.readouterr()
    assert main([str(MODELS / "scratch.npz")]) == 2
    assert capsys.readouterr().err == (
        "error: runs/scratch.paddle.pdparams already exists; replace it with --overwrite, or choose another --out\n"
    )
    assert {path.name: path.stat().st_mtime_ns for path in (tmp_path / "runs").iterdir()} == written
    assert sorted(written) == ["scratch.paddle.json", "scratch.paddle.pdparams"]
    assert main([str(MODELS / "scratch.npz"), "--overwrite"]) == 0
    assert capsys.readouterr().out == "wrote runs/scratch.paddle.pdparams and runs/scratch.paddle.json\n"


def test_out_may_not_name_the_sources_own_card(tmp_path, capsys):
    for name in ("scratch.npz", "scratch.json"):
        shutil.copy(MODELS / name, tmp_path / name)
    assert main([str(tmp_path / "scratch.npz"), "--out", str(tmp_path / "scratch.pdparams"), "--overwrite"]) == 2
    assert capsys.readouterr().err == (
        f"error: --out {tmp_path / 'scratch.pdparams'} would overwrite {tmp_path / 'scratch.json'}, "
        "the source's own card\n"
    )
    assert sorted(path.name for path in tmp_path.iterdir()) == ["scratch.json", "scratch.npz"]  # nothing written


def test_a_numpy_net_for_other_than_784_pixels_is_refused(tmp_path, capsys):
    from handwriting.scratch import mlp
    from handwriting.scratch.files import network_card, save
    from handwriting.scratch.net import network_options

    options = network_options(hidden=[8], activation="relu", num_classes=10, image_shape=(32, 32))
    save(tmp_path / "wide", mlp(**options), network_card(options, "minus-one-to-one", list("0123456789")))
    assert main([str(tmp_path / "wide.npz"), "--out", str(tmp_path / "never")]) == 2
    assert capsys.readouterr().err == (
        f"error: {tmp_path / 'wide.npz'} takes 1,024 inputs; the Paddle MLPs take MNIST's 1x28x28 = 784 pixels\n"
    )
    assert sorted(path.name for path in tmp_path.iterdir()) == ["wide.json", "wide.npz"]


def test_only_fully_connected_models_have_a_numpy_twin(tmp_path, capsys):
    assert main([str(MODELS / "cnn.pdparams"), "--out", str(tmp_path / "never.npz")]) == 2
    assert capsys.readouterr() == (
        "",
        f"error: {MODELS / 'cnn.pdparams'} holds a 'cnn' model; only the fully connected mlp and mlp-sigmoid "
        "have a NumPy twin\n",
    )
    assert list(tmp_path.iterdir()) == []
