"""A checkpoint card is JSON read field by field: a card that is wrong in any way is one line from
infer.py (and every tool that loads a model), never a traceback and never a huge allocation."""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import pytest

import infer as infer_script
from handwriting.checkpoint import CheckpointError, load_model, stem

ROOT = Path(__file__).resolve().parent.parent
BASE = json.loads((ROOT / "models/mlp-sigmoid.json").read_text())


def with_model(**changes) -> dict:
    return {**BASE, "model": {**BASE["model"], **changes}}


CARDS = {
    "unknown option": (with_model(options={**BASE["model"]["options"], "bogus": 1}), "options it does not take"),
    "negative side": (with_model(in_shape=[3, -1, 28]), "input shape [3, -1, 28] is not"),
    "two sides": (with_model(in_shape=[1, 28]), "input shape [1, 28] is not"),
    "hidden as text": (with_model(options={"hidden": "abc"}), "cannot be built (TypeError"),
    "negative width": (with_model(options={"hidden": [-5]}), "cannot be built"),
    # A trillion-wide layer: built without memory first, so it is refused before anything is allocated.
    "huge layer": (with_model(options={"hidden": [10**12]}), "cannot be built"),
    "wider layer": (with_model(options={"hidden": [300]}), "does not fit the 'mlp-sigmoid' model its card"),
    "other model": (with_model(name="cnn", options={}), "does not fit the 'cnn' model its card describes"),
    "no such model": (with_model(name="resnet"), "names the model 'resnet', which is none of ours"),
    "options a list": (with_model(options=[]), "model options are not a JSON object"),
    "no model": ({**BASE, "model": None}, "lacks the model description"),
    "no classes": ({**BASE, "classes": []}, "classes are not a list of 1 or more labels"),
    "numbers as classes": ({**BASE, "classes": list(range(10))}, "classes are not a list"),
    "one class": ({**BASE, "classes": ["a"]}, "gives a classifier 1 class"),
    "repeated labels": ({**BASE, "classes": ["0"] * 10}, "classes repeat a label"),
    "three classes": ({**BASE, "classes": ["a", "b", "c"]}, "wrong shape for layers.3.bias"),
    "a list": ([1, 2], "not a checkpoint card (it holds a JSON list)"),
    "deep nesting": ("[" * 100_000, "not a readable checkpoint card"),
    "not JSON": ("{", "not a readable checkpoint card"),
    # Found by the fuzzer: Python 3.11+ refuses to read an integer of over 4,300 digits (ValueError).
    "a 4,301-digit number": ("1" * 4301, "not a readable checkpoint card"),
}


def write_checkpoint(folder: Path, card, weights: bytes | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "m.pdparams"
    if weights is None:
        shutil.copy(ROOT / "models/mlp-sigmoid.pdparams", path)
    else:
        path.write_bytes(weights)
    (folder / "m.json").write_text(card if isinstance(card, str) else json.dumps(card))
    return path


@pytest.mark.parametrize("case", list(CARDS))
def test_a_wrong_card_is_one_line_from_infer(tmp_path, case, capsys):
    card, words = CARDS[case]
    weights = write_checkpoint(tmp_path, card)
    with pytest.raises(CheckpointError, match=None) as raised:
        load_model(weights)
    assert words in str(raised.value)
    assert infer_script.main([str(ROOT / "work/example_0.png"), "--model", str(weights)]) == 2
    out, error = capsys.readouterr()
    assert out == "" and error.startswith("error: ") and error.count("\n") == 1 and words in error


def test_weights_that_are_a_pickled_list_are_one_line(tmp_path, capsys):
    weights = write_checkpoint(tmp_path, BASE, pickle.dumps([1, 2, 3], protocol=4))
    assert infer_script.main([str(ROOT / "work/example_0.png"), "--model", str(weights)]) == 2
    assert capsys.readouterr().err == f"error: {weights}: not a Paddle checkpoint (it holds a list, not a state dict)\n"


def test_a_card_beside_a_shipped_model_still_loads_and_reads_a_digit(tmp_path, capsys):
    weights = write_checkpoint(tmp_path, BASE)
    model, card = load_model(weights)
    assert card["model"]["task"] == "classify" and card["classes"] == [str(digit) for digit in range(10)]
    assert infer_script.main([str(ROOT / "work/example_0.png"), "--model", str(weights)]) == 0
    assert capsys.readouterr().out.startswith(f"{ROOT / 'work/example_0.png'}: 0 (")


@pytest.mark.parametrize(
    "given,expected",
    [("m/a.b.pdparams", "m/a.b"), ("m/a.b.json", "m/a.b"), ("m/a.b", "m/a.b"), ("m/.pdparams", "m/.pdparams")],
)
def test_a_checkpoint_name_with_dots_is_kept_whole(given, expected):
    assert stem(given) == Path(expected)


def test_a_folder_or_a_numpy_card_given_as_a_checkpoint_says_what_it_is(tmp_path):
    with pytest.raises(CheckpointError, match="is a folder; give the .pdparams"):
        load_model(ROOT / "models")
    with pytest.raises(CheckpointError, match=r"scratch.npz is a NumPy model: run it with --backend numpy \(or auto\)"):
        load_model(ROOT / "models/scratch.json")
