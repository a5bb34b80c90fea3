"""Learning from your misreads: train.py --finetune --pictures."""

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import train
from handwriting.checkpoint import load_model
from handwriting.errors import UserError
from handwriting.finetune import class_aliases, find_labelled
from synthetic.pen import draw, on_paper, to_uint8

ROOT = Path(__file__).resolve().parent.parent


def picture(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((8, 8), 255, np.uint8)).save(path)
    return path


def test_labels_come_from_folder_names_or_the_start_of_file_names(tmp_path):
    three = picture(tmp_path / "3_mine.png")
    seven = picture(tmp_path / "7" / "crossed.jpg")
    (tmp_path / "notes.txt").write_text("not a picture")
    found = find_labelled(tmp_path, [str(digit) for digit in range(10)])
    assert found == [(three, 3), (seven, 7)]


def test_a_class_with_two_cases_may_be_named_by_either():
    assert class_aliases(["a/A", "b/B", "7"]) == {"a/A": 0, "a": 0, "A": 0, "b/B": 1, "b": 1, "B": 1, "7": 2}


def test_unknown_labels_no_pictures_and_no_folder_are_one_line_each(tmp_path):
    picture(tmp_path / "x_what.png")
    with pytest.raises(UserError, match=r"'x' \(x_what.png\) is not a label of this model \(0, 1, 2"):
        find_labelled(tmp_path, [str(digit) for digit in range(10)])
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(UserError, match="no pictures found"):
        find_labelled(empty, ["0"])
    with pytest.raises(UserError, match="no such folder"):
        find_labelled(tmp_path / "missing", ["0"])


def test_finetune_flags_come_in_pairs_and_training_flags_are_refused(tmp_path, capsys):
    assert train.main(["--pictures", str(tmp_path), "--out", str(tmp_path)]) == 2
    assert "--pictures is for --finetune CHECKPOINT" in capsys.readouterr().err
    assert train.main(["--finetune-steps", "5", "--out", str(tmp_path)]) == 2
    assert "--finetune-steps is for --finetune CHECKPOINT" in capsys.readouterr().err
    assert train.main(["--finetune", "models/cnn.pdparams", "--out", str(tmp_path)]) == 2
    assert "--finetune needs --pictures DIR" in capsys.readouterr().err
    argv = ["--finetune", "models/cnn.pdparams", "--pictures", str(tmp_path), "--epochs", "3", "--augment", "none"]
    assert train.main([*argv, "--out", str(tmp_path)]) == 2
    assert capsys.readouterr().err.strip().endswith("it takes no --augment, --epochs")
    assert list(tmp_path.iterdir()) == []


def pen_picture(path: Path, digit: int, seed: int) -> None:
    """A digit drawn by our pen, dark on light paper, as a person's picture."""
    coverage = np.pad(draw(digit, 60, 6, np.random.default_rng(seed)), 20)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(to_uint8(on_paper(coverage))).save(path)


def test_finetune_writes_an_ordinary_checkpoint_with_what_changed_on_its_card(trained, synthetic, tmp_path, capsys):
    for index, digit in enumerate((3, 3, 7, 1)):
        pen_picture(tmp_path / "mine" / f"{digit}_{index}.png", digit, index)
    argv = ["--finetune", str(trained), "--pictures", str(tmp_path / "mine"), "--finetune-steps", "4"]
    assert train.main([*argv, "--batch-size", "8", "--out", str(tmp_path / "out")]) == 0
    printed = capsys.readouterr().out
    card = json.loads((tmp_path / "out" / "softmax-finetuned.json").read_text())
    tuned = card["finetune"]
    assert (tuned["count"], tuned["steps"], tuned["batch_size"], tuned["from"]) == (4, 4, 8, str(trained))
    assert f"{tuned['read_right_after']} of 4 of your pictures read right" in printed
    assert card["test_accuracy"] == tuned["test_accuracy_after"] and "resume" not in card
    model, loaded = load_model(tmp_path / "out" / "softmax-finetuned.pdparams")  # its sha256 matches its card
    source, _ = load_model(trained)
    changed = [key for key, value in model.state_dict().items() if not np.array_equal(value, source.state_dict()[key])]
    assert changed == ["fc.weight", "fc.bias"]  # the softmax's only layer moved
    assert train.main([*argv, "--out", str(tmp_path / "out")]) == 2
    assert "already holds a model" in capsys.readouterr().err
    assert train.main([*argv, "--out", str(tmp_path / "out"), "--overwrite", "--seed", "1"]) == 0
