"""Training, saving and loading the NumPy network; its command line."""

import io
import json

import numpy as np
import pytest

from handwriting.scratch import mlp
from handwriting.scratch.__main__ import main
from handwriting.scratch.files import ScratchFileError, load, network_card, save
from handwriting.scratch.train import ScratchConfig, accuracy, fit, rotate
from tests.conftest import REAL_ROOT


def test_a_short_run_on_a_few_thousand_images_beats_85_percent(real_mnist):
    train, test = real_mnist.splits["train"], real_mnist.splits["test"]
    config = ScratchConfig(epochs=3, batch_size=64, lr=0.002, augment="none")
    net, history = fit(config, (train.images[:4000], train.labels[:4000]), (test.images[:2000], test.labels[:2000]))
    assert len(history) == 3 and history[-1]["train_loss"] < history[0]["train_loss"]
    assert history[-1]["test_accuracy"] > 0.85


def test_the_articles_per_sample_squared_error_loop_learns(real_mnist):
    train, test = real_mnist.splits["train"], real_mnist.splits["test"]
    config = ScratchConfig(
        hidden=(200,), loss="squared-error", bias=False, init="article", optimizer="sgd", lr=0.1, lr_decay=1.0,
        epochs=1, batch_size=1, augment="none", inputs="0.01-to-1",
    )  # fmt: skip
    net, history = fit(config, (train.images[:5000], train.labels[:5000]), (test.images[:1000], test.labels[:1000]))
    assert history[0]["test_accuracy"] > 0.8
    assert type(net.layers[-1]).__name__ == "Sigmoid" and "1.bias" not in net.named_parameters()


def test_training_is_reproducible_from_the_seed():
    rng = np.random.default_rng(0)
    images, labels = rng.integers(0, 256, (300, 28, 28), dtype=np.uint8), rng.integers(0, 10, 300)
    config = ScratchConfig(hidden=(8,), epochs=2, batch_size=32)
    first, _ = fit(config, (images, labels))
    second, _ = fit(config, (images, labels))
    for name, value in first.named_parameters().items():
        np.testing.assert_array_equal(value, second.named_parameters()[name])


def test_rotate_turns_anticlockwise_about_the_centre():
    image = np.zeros((1, 28, 28), np.uint8)
    image[0, 3:8, 20:25] = 200  # a block in the top-right corner
    np.testing.assert_array_equal(rotate(image, 0), image)
    np.testing.assert_array_equal(rotate(image, 90), np.rot90(image, k=1, axes=(1, 2)))
    turned = rotate(image, 10)
    assert turned.dtype == np.uint8 and abs(int(turned.sum()) - int(image.sum())) < 0.05 * int(image.sum())


def test_save_and_load_give_the_same_network(tmp_path):
    net = mlp(hidden=(12, 7), activation="tanh", seed=3)
    card = network_card({"hidden": [12, 7], "activation": "tanh"}, "minus-one-to-one", list("0123456789"))
    save(tmp_path / "net", net, card)
    loaded, loaded_card = load(tmp_path / "net.npz")
    x = np.random.default_rng(0).uniform(-1, 1, (4, 784)).astype(np.float32)
    np.testing.assert_array_equal(loaded.forward(x), net.eval().forward(x))
    assert loaded_card == json.loads((tmp_path / "net.json").read_text())
    with np.load(tmp_path / "net.npz", allow_pickle=False) as arrays:
        assert sorted(arrays.files) == ["layers.1.bias", "layers.1.weight", "layers.3.bias", "layers.3.weight",
                                        "layers.5.bias", "layers.5.weight"]  # fmt: skip


def test_loading_refuses_pickles_and_mismatches(tmp_path):
    net = mlp(hidden=(5,))
    card = network_card({"hidden": [5]}, "minus-one-to-one", list("0123456789"))
    save(tmp_path / "net", net, card)
    # An .npz holding a pickled object: np.load(allow_pickle=False) must not run it.
    buffer = io.BytesIO()
    state = net.state_dict()
    state["layers.1.weight"] = np.array([{"not": "an array"}], dtype=object)
    np.savez(buffer, **state)
    (tmp_path / "net.npz").write_bytes(buffer.getvalue())
    with pytest.raises(ScratchFileError, match="does not fit"):
        load(tmp_path / "net.npz")
    # A card that describes another network.
    save(tmp_path / "net", net, card)
    (tmp_path / "net.json").write_text(json.dumps(network_card({"hidden": [6]}, "minus-one-to-one", ["0"] * 10)))
    with pytest.raises(ScratchFileError, match="does not fit"):
        load(tmp_path / "net.npz")
    (tmp_path / "net.json").write_text("{}")
    with pytest.raises(ScratchFileError, match="not the card"):
        load(tmp_path / "net.npz")
    with pytest.raises(ScratchFileError, match="no such file"):
        load(tmp_path / "missing.npz")


def test_command_line_trains_saves_and_evaluates(real_mnist, tmp_path, capsys):
    flags = ["--hidden", "32", "--epochs", "1", "--train-size", "2000", "--batch-size", "32", "--name", "tiny"]
    status = main(["train", *flags, "--out", str(tmp_path), "--data-dir", str(REAL_ROOT)])
    assert status == 0
    out = capsys.readouterr().out
    assert "epoch   1" in out and "saved" in out
    card = json.loads((tmp_path / "tiny.json").read_text())
    assert card["network"]["hidden"] == [32] and card["config"]["epochs"] == 1 and card["test_accuracy"] > 0.5
    assert main(["evaluate", str(tmp_path / "tiny.npz"), "--json", "--data-dir", str(REAL_ROOT)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["accuracy"] == pytest.approx(card["test_accuracy"])


def test_command_line_mistakes(tmp_path, capsys):
    assert main(["evaluate", str(tmp_path / "nothing.npz")]) == 2
    assert "no such file" in capsys.readouterr().err
    assert main(["train", "--epochs", "0", "--out", str(tmp_path)]) == 2
    assert "at least 1" in capsys.readouterr().err


def test_the_shipped_network_scores_what_its_card_says(real_mnist):
    net, card = load("models/scratch.npz")
    test = real_mnist.splits["test"]
    assert accuracy(net, test.images, test.labels, card["inputs"]) == pytest.approx(card["test_accuracy"])
    assert card["test_accuracy"] >= 0.975
