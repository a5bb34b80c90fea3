"""Training, saving and loading the NumPy network; its command line."""

import io
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from handwriting.scratch import mlp
from handwriting.scratch.__main__ import main
from handwriting.scratch.files import ScratchFileError, load, network_card, save
from handwriting.scratch.train import ScratchConfig, accuracy, fit
from tests.conftest import REAL_ROOT

ROOT = Path(__file__).resolve().parent.parent


def test_a_short_run_on_real_digits_learns(real_mnist):
    """A smoke check (under a second): the accuracy figures are bench/scratch.py's, on all of MNIST."""
    train, test = real_mnist.splits["train"], real_mnist.splits["test"]
    config = ScratchConfig(epochs=2, batch_size=64, lr=0.002, augment="none")
    net, history = fit(config, (train.images[:2000], train.labels[:2000]), (test.images[:1000], test.labels[:1000]))
    assert len(history) == 2 and history[-1]["train_loss"] < history[0]["train_loss"]
    assert history[-1]["test_accuracy"] == accuracy(net, test.images[:1000], test.labels[:1000], config.inputs)
    assert history[-1]["test_accuracy"] > 0.5  # chance is 0.1; this run gets about 0.8


def test_the_articles_per_sample_squared_error_loop_learns(real_mnist):
    train, test = real_mnist.splits["train"], real_mnist.splits["test"]
    config = ScratchConfig(
        hidden=(200,), loss="squared-error", bias=False, init="article", optimizer="sgd", lr=0.1, lr_decay=1.0,
        epochs=1, batch_size=1, augment="none", inputs="0.01-to-1",
    )  # fmt: skip
    net, history = fit(config, (train.images[:2000], train.labels[:2000]), (test.images[:1000], test.labels[:1000]))
    assert history[0]["test_accuracy"] > 0.5  # chance is 0.1; 2,000 steps get about 0.79 (all: bench/scratch.py)
    assert type(net.layers[-1]).__name__ == "Sigmoid" and "1.bias" not in net.named_parameters()


def test_training_is_reproducible_from_the_seed():
    rng = np.random.default_rng(0)
    images, labels = rng.integers(0, 256, (300, 28, 28), dtype=np.uint8), rng.integers(0, 10, 300)
    config = ScratchConfig(hidden=(8,), epochs=2, batch_size=32)
    first, _ = fit(config, (images, labels))
    second, _ = fit(config, (images, labels))
    for name, value in first.named_parameters().items():
        np.testing.assert_array_equal(value, second.named_parameters()[name])


def test_the_network_options_take_their_input_size_from_the_images():
    config = ScratchConfig(hidden=(6, 5), activation="tanh", loss="squared-error", bias=False)
    options = config.network_options(num_classes=3, image_shape=(1, 9, 7))
    assert options == {
        "hidden": [6, 5], "activation": "tanh", "num_classes": 3, "in_features": 63, "dropout": 0.0,
        "bias": False, "sigmoid_output": True,
    }  # fmt: skip
    assert json.loads(json.dumps(options)) == options  # what a card stores, as it stores it
    net = config.build(num_classes=3, image_shape=(9, 7))
    assert net.forward(np.zeros((2, 9, 7), np.float32)).shape == (2, 3)
    assert [value.shape for value in net.state_dict().values()] == [(63, 6), (6, 5), (5, 3)]


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


def small_card(**changes) -> dict:
    """The card of ``mlp(hidden=(5,))`` for MNIST's ten digits, with ``changes`` (None deletes a field)."""
    card = network_card({"hidden": [5]}, "minus-one-to-one", list("0123456789"))
    card.update(changes)
    return {key: value for key, value in card.items() if value is not None}


def network(**changes) -> dict:
    return {"hidden": [5], **changes}


@pytest.mark.parametrize(
    "card, message",
    [
        # the two reported: a KeyError in infer.py --backend numpy, and a crash on no classes
        (small_card(inputs="weird"), '"inputs" is "weird"; it must be one of minus-one-to-one, zero-to-one, 0.01-to-1'),
        (small_card(classes=[]), '"classes" is [], not a list of class labels'),
        (small_card(inputs=["minus-one-to-one"]), '"inputs" is ["minus-one-to-one"]'),  # unhashable: TypeError
        (small_card(classes=list("012345678")), '"classes" has 9 labels for a network with 10 outputs'),
        (small_card(classes=list(range(10))), '"classes" is [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], not a list'),
        (small_card(classes="0123456789"), '"classes" is "0123456789", not a list'),
        (small_card(format="handwriting.scratch/2"), '"format" is "handwriting.scratch/2"'),
        (small_card(format=None), '"format" is missing'),
        (small_card(network=[5]), '"network" is [5], not an object'),
        (small_card(network=network(hidden=[-5])), '"hidden" is [-5]; it must be a list of at most 64 layer sizes'),
        (small_card(network=network(hidden=["5"])), '"hidden" is ["5"]; it must be a list of at most 64 layer sizes'),
        (small_card(network=network(hidden=[True])), '"hidden" is [true]; it must be a list of at most 64 layer sizes'),
        (small_card(network=network(hidden=5)), '"hidden" is 5; it must be a list of at most 64 layer sizes'),
        (small_card(network=network(hidden=[1] * 65)), "; it must be a list of at most 64 layer sizes"),
        (small_card(network=network(num_classes=0)), '"num_classes" is 0; it must be a whole number from 1'),
        (small_card(network=network(in_features=784.0)), '"in_features" is 784.0; it must be a whole number'),
        (small_card(network=network(dropout=1)), '"dropout" is 1; it must be a number from 0 up to'),
        (small_card(network=network(dropout=float("nan"))), '"dropout" is NaN; it must be a number from 0'),
        (small_card(network=network(bias="yes")), '"bias" is "yes"; it must be true or false'),
        (small_card(network=network(activation="swish")), '"activation" is "swish"; it must be one of sigmoid'),
        (small_card(network=network(activation={})), '"activation" is {}; it must be one of sigmoid'),
        (small_card(network=network(seed=-1)), '"seed" is -1; it must be a whole number from 0'),
        (small_card(network=network(dtype="float64")), 'an option "dtype" that no network here takes'),
        (small_card(network=network(init="uniform")), "unknown init 'uniform'"),
        (small_card(network=network(hidden=[10**9])), "describes layers [784, 1000000000, 10]: more than 50,000,000"),
        (small_card(dataset=["mnist"]), '"dataset" is ["mnist"], not an object'),
        ([small_card()], "it holds a JSON list, not an object"),
    ],
)
def test_every_field_of_a_network_card_is_checked_before_anything_is_built(tmp_path, card, message):
    save(tmp_path / "net", mlp(hidden=(5,)), small_card())
    (tmp_path / "net.json").write_text(json.dumps(card))
    with pytest.raises(ScratchFileError) as refused:
        load(tmp_path / "net.npz")
    assert message in str(refused.value) and "\n" not in str(refused.value)
    assert str(refused.value).startswith(f"{tmp_path / 'net.json'}: not the card of a NumPy network")


@pytest.mark.parametrize(
    "text, message",
    [
        pytest.param(
            "1" * 4301,
            "ValueError: Exceeds the limit (4300 digits)",
            marks=pytest.mark.skipif(not hasattr(sys, "get_int_max_str_digits"), reason="a limit since Python 3.11"),
        ),
        ("[" * 100_000 + "]" * 100_000, "RecursionError"),
        ("{", "JSONDecodeError"),
    ],
)
def test_card_text_json_cannot_read_is_one_line(tmp_path, text, message):
    save(tmp_path / "net", mlp(hidden=(5,)), small_card())
    (tmp_path / "net.json").write_text(text)
    with pytest.raises(ScratchFileError, match=r"net.json: not a JSON card \(") as refused:
        load(tmp_path / "net.npz")
    assert message in str(refused.value) and "\n" not in str(refused.value)


def test_command_line_trains_saves_and_evaluates(real_mnist, tmp_path, capsys):
    flags = ["--hidden", "32", "--epochs", "1", "--train-size", "2000", "--batch-size", "32", "--name", "tiny"]
    status = main(["train", *flags, "--out", str(tmp_path), "--data-dir", str(REAL_ROOT)])
    assert status == 0
    out = capsys.readouterr().out
    assert "mnist: 784-32-10 sigmoid" in out and "epoch   1" in out and "saved" in out
    assert (tmp_path / "tiny.curves.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    card = json.loads((tmp_path / "tiny.json").read_text())
    assert card["dataset"]["name"] == "mnist" and card["classes"] == list("0123456789")
    assert card["network"] == {
        "hidden": [32], "activation": "sigmoid", "num_classes": 10, "in_features": 784, "dropout": 0.0,
        "bias": True, "sigmoid_output": False,
    }  # fmt: skip
    assert card["config"]["epochs"] == 1 and card["test_accuracy"] > 0.5
    assert main(["evaluate", str(tmp_path / "tiny.npz"), "--json", "--data-dir", str(REAL_ROOT)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["accuracy"] == pytest.approx(card["test_accuracy"])
    # A second run on the same name replaces the first only when asked.
    again = ["train", *flags, "--seed", "1", "--out", str(tmp_path), "--data-dir", str(REAL_ROOT)]
    assert main([*again, "--overwrite"]) == 0
    assert json.loads((tmp_path / "tiny.json").read_text())["config"]["seed"] == 1


def test_train_keeps_a_saved_network_unless_overwrite(tmp_path, capsys):
    (tmp_path / "scratch.npz").write_bytes(b"an earlier network")
    (tmp_path / "only-card.json").write_text("{}")
    for name in ("scratch", "only-card"):
        assert main(["train", "--out", str(tmp_path), "--name", name]) == 2
        assert capsys.readouterr() == (
            "",
            f"error: {tmp_path / name}.npz already holds a saved model; replace it with --overwrite, "
            "or choose another --name\n",
        )
    assert (tmp_path / "scratch.npz").read_bytes() == b"an earlier network"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["only-card.json", "scratch.npz"]


def test_command_line_mistakes(tmp_path, capsys):
    assert main(["evaluate", str(tmp_path / "nothing.npz")]) == 2
    assert capsys.readouterr() == (
        "",
        f"error: {tmp_path / 'nothing.npz'}: no such file; a NumPy network is a .npz and a .json card beside it\n",
    )
    assert main(["train", "--epochs", "0", "--out", str(tmp_path)]) == 2
    assert capsys.readouterr() == (
        "",
        "error: --hidden sizes, --epochs and --batch-size must be at least 1, and --lr above 0\n",
    )
    assert list(tmp_path.iterdir()) == []  # refused before anything is written


def test_the_shipped_network_scores_what_its_card_says(real_mnist):
    net, card = load(ROOT / "models" / "scratch.npz")
    test = real_mnist.splits["test"]
    assert accuracy(net, test.images, test.labels, card["inputs"]) == pytest.approx(card["test_accuracy"])


def test_a_network_name_with_dots_is_kept_whole(tmp_path):
    from handwriting.scratch.files import load, save
    from handwriting.scratch.net import mlp

    net = mlp(hidden=(3,), num_classes=2, in_features=4)
    card = {"format": "handwriting.scratch/1", "network": {"hidden": [3], "num_classes": 2, "in_features": 4}}
    save(tmp_path / "a.b", net, {**card, "inputs": "zero-to-one", "classes": ["x", "y"]})
    assert sorted(path.name for path in tmp_path.iterdir()) == ["a.b.json", "a.b.npz"]
    for given in ("a.b", "a.b.npz", "a.b.json"):
        assert load(tmp_path / given)[1]["classes"] == ["x", "y"]
    (tmp_path / "a.npz").write_bytes(b"")  # a sibling named like the with_suffix mistake: never read
    assert load(tmp_path / "a.b")[1]["classes"] == ["x", "y"]
