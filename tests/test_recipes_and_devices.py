"""train.py --recipe, --amp, and what a GPU run records: everything of the GPU path that a CPU can test."""

from __future__ import annotations

import json
import warnings

import numpy as np
import paddle
import pytest

import train as train_script
from handwriting import checkpoint
from handwriting.config import RECIPES, TrainConfig, recipe_config
from handwriting.data.loader import make_loader
from handwriting.data.store import dataset_dir, load
from handwriting.engine import fit, make_optimizer, train_one_epoch
from handwriting.models import build_model


@pytest.fixture
def tiny(synthetic):
    synthetic.write(dataset_dir(synthetic.spec))
    return load(synthetic.spec, download=False)


def test_a_recipe_sets_what_it_names_and_a_given_flag_still_wins(tmp_path, tiny, capsys):
    flags = ["--dataset", "synth", "--recipe", "fast", "--epochs", "1", "--max-steps", "1", "--out", str(tmp_path)]
    assert train_script.main(flags) == 0
    saved = json.loads((tmp_path / "cnn-fast.json").read_text())["config"]
    expected = {**RECIPES["fast"], "epochs": 1, "recipe": "fast"}  # --epochs given: it wins over the recipe's 4
    assert {key: saved[key] for key in expected} == expected
    assert "saved" in capsys.readouterr().out


def test_a_resumed_recipe_run_keeps_its_recipe(tmp_path, tiny):
    flags = ["--dataset", "synth", "--recipe", "fast", "--lr-schedule", "constant", "--max-steps", "1"]
    assert train_script.main([*flags, "--epochs", "1", "--out", str(tmp_path)]) == 0
    # Continued with neither --recipe nor its settings on the command line: the card supplies them.
    assert train_script.main(["--out", str(tmp_path), "--name", "cnn-fast", "--resume", "--epochs", "2"]) == 0
    card = json.loads((tmp_path / "cnn-fast.json").read_text())
    settings = card["config"]
    assert (settings["recipe"], settings["model"], settings["batch_size"]) == ("fast", "cnn-fast", 256)
    assert len(card["epochs"]) == 2


def test_recipe_config_builds_what_train_py_builds():
    assert recipe_config("default") == TrainConfig()
    fast = recipe_config("fast", epochs=1)
    assert (fast.model, fast.epochs, fast.batch_size, fast.recipe) == ("cnn-fast", 1, 256, "fast")
    with pytest.raises(KeyError, match="choose one of: default, fast"):
        recipe_config("fastest")


def test_help_lists_each_recipe_as_its_flags(capsys):
    with pytest.raises(SystemExit):
        train_script.main(["--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "fast: --model cnn-fast --epochs 4 --batch-size 256 --lr 0.02" in help_text
    assert "--amp" in help_text and "refused on the CPU" in help_text


def test_amp_on_the_cpu_is_refused_in_one_line_before_anything_is_written(tmp_path, tiny, capsys):
    out = tmp_path / "runs"
    flags = ["--dataset", "synth", "--model", "mlp", "--epochs", "1", "--out", str(out), "--device", "cpu"]
    assert train_script.main([*flags, "--amp"]) == 2
    error = capsys.readouterr().err
    assert error == "error: --amp: Paddle's mixed precision runs on a GPU only (on the CPU it would change nothing)\n"
    assert sorted(path.name for path in out.iterdir()) == []  # no card, no weights, no empty mlp.run/


def test_the_mixed_precision_step_runs_where_paddle_allows_it(tiny):
    # On the CPU, Paddle turns auto_cast and GradScaler into no-ops (with a warning): the AMP branch of
    # the training step still runs end to end, scaled backward and scaler.step included.
    config = TrainConfig(model="mlp", dataset="synth", batch_size=8, lr=0.01, amp=True, epochs=1)
    paddle.seed(0)
    model = build_model("mlp", dropout=0.0)
    before = [value.numpy().copy() for value in model.parameters()]
    optimizer, _ = make_optimizer(config, model, 2)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*(AmpScaler|amp_guard) can only be enabled on")
        scaler = paddle.amp.GradScaler()
        numbers = train_one_epoch(
            model, make_loader(tiny.splits["train"], 8, True), optimizer, None, config, 0, 2, "classify", 10, scaler
        )
    assert np.isfinite(numbers["train_loss"]) and numbers["images_per_second"] > 0
    assert all(not np.array_equal(old, new.numpy()) for old, new in zip(before, model.parameters()))


def test_a_card_from_a_gpu_run_loads_and_reads_on_the_cpu(tmp_path, tiny):
    # paddle.save writes tensors as NumPy arrays wherever they lived, so GPU weights are CPU weights; the
    # card's device and precision describe how the run trained, not where the model may run.
    card = fit(TrainConfig(model="mlp", dataset="synth", epochs=1, batch_size=8, out=str(tmp_path)), log=lambda m: None)
    assert (card["device"], card["precision"], card["processes"], card["global_batch"]) == ("cpu", "float32", 1, 8)
    path = tmp_path / "mlp.json"
    gpu_card = dict(json.loads(path.read_text()), device="gpu", precision="amp-o1-float16")
    path.write_text(json.dumps(gpu_card))
    model, loaded = checkpoint.load_model(tmp_path / "mlp.pdparams")
    assert loaded["device"] == "gpu" and str(paddle.get_device()).startswith("cpu")
    with paddle.no_grad():
        assert model(paddle.zeros([2, 1, 28, 28])).shape == [2, 10]
