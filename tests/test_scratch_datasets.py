"""The NumPy network on a dataset other than MNIST: its outputs, its card, its curves, ``evaluate``
and ``show`` — on a synthetic 26-class dataset in the IDX layout, so every test takes seconds."""

from __future__ import annotations

import json
import string
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from handwriting.data import registry
from handwriting.data.registry import DatasetSpec
from handwriting.data.store import dataset_dir
from handwriting.errors import UserError
from handwriting.scratch import SoftmaxCrossEntropy, mlp
from handwriting.scratch.__main__ import main
from handwriting.scratch.files import DIGITS, ScratchFileError, load, network_card, save
from handwriting.scratch.samples import read_samples
from handwriting.scratch.train import INPUTS, ScratchConfig, fit
from tests.conftest import synthetic_dataset

LETTERS = tuple(f"{letter}/{letter.upper()}" for letter in string.ascii_lowercase)  # as EMNIST letters: "a/A" ...
TRAIN_COUNT, TEST_COUNT = 78, 52  # three and two of each letter
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def letters(isolated_data_root, monkeypatch) -> DatasetSpec:
    """A synthetic 26-class dataset registered as ``synth-letters`` for one test (``monkeypatch``
    takes it out of ``DATASETS`` afterwards), its IDX files in the test's own data root."""
    rng = np.random.default_rng(0)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (TRAIN_COUNT, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": np.arange(TRAIN_COUNT, dtype=np.uint8) % len(LETTERS),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (TEST_COUNT, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": ((np.arange(TEST_COUNT) * 7) % len(LETTERS)).astype(np.uint8),  # shuffled
    }
    made = synthetic_dataset("synth-letters", "synthetic letters", LETTERS, arrays)
    monkeypatch.setitem(registry.DATASETS, made.spec.name, made.spec)
    made.write(dataset_dir(made.spec, isolated_data_root))
    return made.spec


@pytest.fixture
def trained(letters, tmp_path, capsys) -> Path:
    """A 784-8-26 network trained for two epochs on ``letters``, saved as ``tmp_path/nets/letters.npz``."""
    flags = ["--hidden", "8", "--epochs", "2", "--batch-size", "16", "--augment", "none", "--seed", "3"]
    assert main(["train", "--dataset", letters.name, *flags, "--out", str(tmp_path / "nets"), "--name", "letters"]) == 0
    capsys.readouterr()
    return tmp_path / "nets" / "letters.npz"


def png_size(path: Path) -> tuple[int, int]:
    """(width, height) of a PNG that decodes whole; fails the test for anything else."""
    assert path.read_bytes().startswith(PNG_SIGNATURE)
    with Image.open(path) as picture:
        assert picture.format == "PNG"
        picture.load()  # decodes every row: a truncated file raises here
        return picture.size


def test_training_on_26_classes_gives_26_outputs_a_card_naming_them_and_curves(letters, tmp_path, capsys):
    out = tmp_path / "nets"
    flags = ["--hidden", "8", "--epochs", "2", "--batch-size", "16", "--augment", "none"]
    assert main(["train", "--dataset", letters.name, *flags, "--out", str(out), "--name", "letters"]) == 0
    printed = capsys.readouterr().out
    assert "synth-letters: 784-8-26 sigmoid" in printed and "epoch   2" in printed
    net, card = load(out / "letters.npz")
    assert net.forward(np.zeros((3, 28, 28), np.float32)).shape == (3, 26)
    assert card["classes"] == list(LETTERS) and card["network"]["num_classes"] == 26
    assert card["dataset"]["name"] == "synth-letters" and card["dataset"]["train"] == TRAIN_COUNT
    assert card["framing"] == letters.framing
    assert [record["epoch"] for record in card["epochs"]] == [1, 2]
    assert all(np.isfinite(record["test_loss"]) for record in card["epochs"])
    width, height = png_size(out / "letters.curves.png")
    assert width > 300 and height > 200
    # Each file written under a temporary name and renamed: nothing else is left in the folder.
    assert sorted(path.name for path in out.iterdir()) == ["letters.curves.png", "letters.json", "letters.npz"]


def test_evaluate_scores_the_cards_dataset_class_by_class(trained, capsys):
    card = json.loads(trained.with_suffix(".json").read_text())
    assert main(["evaluate", str(trained), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["dataset"] == "synth-letters" and report["test_images"] == TEST_COUNT
    assert report["accuracy"] == pytest.approx(card["test_accuracy"])
    assert report["num_classes"] == 26 and list(report["per_class_accuracy"]) == list(LETTERS)
    assert main(["evaluate", str(trained)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"{trained}: {card['test_accuracy']:.2%} of {TEST_COUNT} synth-letters test images"
    assert lines[1].startswith("hardest of 26 classes: ")


def test_show_prints_the_true_and_predicted_class_and_draws_them(trained, letters, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    net, card = load(trained)
    samples, dataset = read_samples(trained, [5])
    logits = net.forward(INPUTS[card["inputs"]](samples[0].image[None]))[0].astype(np.float64)  # [26]
    probabilities = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
    predicted = LETTERS[int(probabilities.argmax())]

    assert main(["show", str(trained), "5"]) == 0
    lines = capsys.readouterr().out.splitlines()
    # test label 5 is 5 * 7 % 26 = 9: the tenth letter
    assert lines[0] == f"sample 5: true 'j/J', predicted {predicted!r} ({probabilities.max():.1%})"
    assert lines[1] == "saved runs/letters.sample-5.png" and dataset == "synth-letters"
    single = png_size(tmp_path / "runs" / "letters.sample-5.png")

    assert main(["show", str(trained), "0", "5", "51", "--split", "test"]) == 0
    assert [line.split(",")[0] for line in capsys.readouterr().out.splitlines()[:3]] == [
        "sample 0: true 'a/A'",
        "sample 5: true 'j/J'",
        "sample 51: true 't/T'",  # 51 * 7 % 26 = 19
    ]
    grid = png_size(tmp_path / "runs" / "letters.samples-0-5-51.png")
    assert grid[0] > 2 * single[0]  # three side by side

    assert main(["show", str(trained), "30", "--split", "train", "--out", "elsewhere/thirty.png"]) == 0
    assert capsys.readouterr().out.startswith("sample 30: true 'e/E', ")  # train label 30 % 26 = 4
    png_size(tmp_path / "elsewhere" / "thirty.png")
    assert sorted(path.name for path in trained.parent.iterdir()) == [
        "letters.curves.png",
        "letters.json",
        "letters.npz",
    ]  # nothing written beside the network


def test_a_sample_number_outside_the_split_is_one_line_naming_the_range(trained, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UserError, match=r"^sample 52 is not in the test split of synth-letters: its samples are "):
        read_samples(trained, [0, 52])
    for number in ("52", "-1"):
        assert main(["show", str(trained), "3", number]) == 2
        assert capsys.readouterr() == (
            "",
            f"error: sample {number} is not in the test split of synth-letters: its samples are numbered 0 to 51\n",
        )
    assert main(["show", str(trained), "78", "--split", "train"]) == 2
    assert capsys.readouterr().err.endswith("train split of synth-letters: its samples are numbered 0 to 77\n")
    assert not (tmp_path / "runs").exists()


def test_an_unknown_dataset_is_refused_in_one_line_before_anything_is_written(tmp_path, capsys):
    assert main(["train", "--dataset", "klingon", "--out", str(tmp_path)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("error: unknown dataset 'klingon'; choose one of: ")
    assert "emnist-letters" in err and "fashion-mnist" in err and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


def test_a_network_is_not_scored_on_a_dataset_with_other_classes(letters, tmp_path, capsys):
    card = network_card({"hidden": [5], "num_classes": 10}, "minus-one-to-one", DIGITS, dataset={"name": letters.name})
    save(tmp_path / "digits", mlp(hidden=(5,)), card)
    assert main(["evaluate", str(tmp_path / "digits.npz")]) == 2
    assert capsys.readouterr().err == (
        f"error: {tmp_path / 'digits.npz'}: its card has 10 classes ('0' first), synth-letters has 26 ('a/A' first)\n"
    )


def test_a_card_without_classes_is_an_older_mnist_card(tmp_path):
    card = network_card({"hidden": [5]}, "minus-one-to-one", DIGITS)
    del card["classes"]
    save(tmp_path / "old", mlp(hidden=(5,)), card)
    assert load(tmp_path / "old.npz")[1]["classes"] == DIGITS
    card["network"]["num_classes"] = 26  # a network that cannot be reading the ten digits
    save(tmp_path / "old", mlp(hidden=(5,), num_classes=26), card)
    with pytest.raises(ScratchFileError, match='"classes" is missing: only a network with 10 outputs'):
        load(tmp_path / "old.npz")


def test_every_epoch_records_the_test_loss_the_curves_draw():
    rng = np.random.default_rng(1)
    images, labels = rng.integers(0, 256, (64, 28, 28), dtype=np.uint8), rng.integers(0, 26, 64)
    config = ScratchConfig(hidden=(6,), epochs=2, batch_size=16, augment="none")
    net, history = fit(config, (images, labels), (images[:20], labels[:20]), num_classes=26)
    logits = net.forward(INPUTS[config.inputs](images[:20]))  # [20, 26]
    assert history[-1]["test_loss"] == pytest.approx(SoftmaxCrossEntropy().forward(logits, labels[:20]), rel=1e-6)
    assert history[-1]["test_accuracy"] == np.mean(logits.argmax(axis=1) == labels[:20])
