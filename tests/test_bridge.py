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


def test_command_line_converts_without_touching_the_sources_cards(tmp_path, frames, capsys):
    for name in ("mlp-sigmoid.pdparams", "mlp-sigmoid.json", "scratch.npz", "scratch.json"):
        shutil.copy(MODELS / name, tmp_path / name)
    before = {path.name: path.read_bytes() for path in tmp_path.iterdir()}
    assert main([str(tmp_path / "mlp-sigmoid.pdparams")]) == 0
    assert main([str(tmp_path / "scratch.npz")]) == 0
    assert capsys.readouterr().out == (
        f"wrote {tmp_path / 'mlp-sigmoid.numpy.npz'} and {tmp_path / 'mlp-sigmoid.numpy.json'}\n"
        f"wrote {tmp_path / 'scratch.paddle.pdparams'} and {tmp_path / 'scratch.paddle.json'}\n"
    )
    for name, content in before.items():
        assert (tmp_path / name).read_bytes() == content
    # What was written computes what its source computes.
    converted, _ = load_model(tmp_path / "scratch.paddle.pdparams")  # a train.py-style checkpoint that loads
    source, _ = load_model(tmp_path / "mlp-sigmoid.pdparams")
    scratch, _ = load_scratch(tmp_path / "scratch.npz")
    twin, _ = load_scratch(tmp_path / "mlp-sigmoid.numpy.npz")
    inputs = paddle.to_tensor(frames)
    with paddle.no_grad():
        np.testing.assert_allclose(converted(inputs).numpy(), scratch.forward(frames), atol=1e-4, rtol=0)
        np.testing.assert_allclose(twin.forward(frames), source(inputs).numpy(), atol=1e-4, rtol=0)
    before = sorted(path.name for path in tmp_path.iterdir())
    assert main([str(tmp_path / "scratch.npz"), "--out", str(tmp_path / "scratch.pdparams")]) == 2
    assert capsys.readouterr().err == (
        f"error: --out {tmp_path / 'scratch.pdparams'} would overwrite {tmp_path / 'scratch.json'}, "
        "the source's own card\n"
    )
    assert sorted(path.name for path in tmp_path.iterdir()) == before  # nothing written


def test_only_fully_connected_models_have_a_numpy_twin(tmp_path, capsys):
    assert main([str(MODELS / "cnn.pdparams"), "--out", str(tmp_path / "never.npz")]) == 2
    assert capsys.readouterr() == (
        "",
        f"error: {MODELS / 'cnn.pdparams'} holds a 'cnn' model; only the fully connected mlp and mlp-sigmoid "
        "have a NumPy twin\n",
    )
    assert list(tmp_path.iterdir()) == []
