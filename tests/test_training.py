"""Models, the training engine and checkpoints, on a tiny synthetic dataset (seconds, not minutes)."""

import json

import numpy as np
import paddle
import pytest

import train as train_script
from handwriting import checkpoint
from handwriting.config import OPTIMIZERS, SCHEDULES, TrainConfig
from handwriting.data.store import dataset_dir, load
from handwriting.engine import fit, make_optimizer
from handwriting.errors import UserError
from handwriting.models import MODELS, build_model, count_parameters, decide
from handwriting.preprocess.pixels import normalize
from handwriting.weights import read_state


@pytest.mark.parametrize("name", list(MODELS))
def test_every_model_maps_a_batch_to_its_outputs(name):
    model = build_model(name, num_classes=10)
    outputs = model(paddle.zeros([3, 1, 28, 28]))
    expected = [3, 1] if MODELS[name].task == "regress" else [3, 10]
    assert list(outputs.shape) == expected


def test_models_compute_their_sizes_from_the_arguments():
    assert list(build_model("cnn", num_classes=47, in_shape=(1, 32, 32))(paddle.zeros([2, 1, 32, 32])).shape) == [2, 47]
    assert list(build_model("lenet5", num_classes=26)(paddle.zeros([2, 1, 28, 28])).shape) == [2, 26]


def test_every_optimizer_and_schedule_train_py_offers_is_built():
    # train.py's --optimizer and --lr-schedule choices are plain names (handwriting.config): each must build.
    model = build_model("softmax")
    for name in OPTIMIZERS:
        for schedule in SCHEDULES:
            optimizer, stepper = make_optimizer(TrainConfig(optimizer=name, lr_schedule=schedule), model, 10)
            assert (stepper is None) == (schedule == "constant")
            assert type(optimizer).__name__.lower() == name, (name, schedule)  # SGD, ..., RMSProp, AdamW


def test_article_parameter_counts():
    assert count_parameters(build_model("mlp")) == 898_510  # the Keras article's model.summary()
    assert count_parameters(build_model("mlp-sigmoid")) == 784 * 200 + 200 + 200 * 10 + 10


@pytest.fixture
def tiny(synthetic):
    synthetic.write(dataset_dir(synthetic.spec))
    return load(synthetic.spec, download=False)


def config(tmp_path, **overrides):
    settings = dict(model="mlp", dataset="synth", epochs=2, batch_size=8, lr=0.01, out=str(tmp_path / "models"))
    settings.update(overrides)
    return TrainConfig(**settings)


def quiet(message):
    pass


def accuracy_of_saved_model(weights, split) -> float:
    """The saved model's accuracy on ``split``, computed here without the engine's evaluation
    (the inputs go through ``normalize``, as every path feeding a model does)."""
    model, card = checkpoint.load_model(weights)
    with paddle.no_grad():
        outputs = model(paddle.to_tensor(normalize(split.images[:, None]))).numpy()  # [N, 1, 28, 28] in [-1, 1]
    if card["model"]["task"] == "regress":  # [N, 1]: the value, rounded to the nearest class
        # Half to even, as paddle.round in models.decide (test_regression_rounds_half_to_even).
        predicted = np.clip(np.round(outputs[:, 0]), 0, len(card["classes"]) - 1)
    else:  # [N, C] logits
        predicted = outputs.argmax(axis=1)
    return float((predicted == split.labels).mean())


def test_regression_rounds_half_to_even():
    # decide() rounds with paddle.round, which (Paddle 3.3) goes half to even as np.round does:
    # 2.5 -> 2, 3.5 -> 4. accuracy_of_saved_model relies on it; a Paddle that rounds otherwise fails here.
    values = paddle.to_tensor([[0.5], [1.5], [2.5], [3.5], [-0.5], [9.5]])  # [N, 1], as linreg returns
    assert decide("regress", values, num_classes=10)[0].tolist() == [0, 2, 2, 4, 0, 9]


def test_smoke_run_writes_every_checkpoint_file(tmp_path, tiny):
    card = fit(config(tmp_path, max_steps=2), data=tiny, log=quiet)
    out = tmp_path / "models"
    for suffix in (".pdparams", ".json", ".log.jsonl", ".curves.png"):
        assert (out / f"mlp{suffix}").is_file(), suffix
    # What --resume needs, named in the card: the last epoch's weights and optimizer state.
    resume = card["resume"]
    assert resume["epoch"] == 2 and resume["kept"] == resume["weights"]
    assert sorted(path.name for path in (out / "mlp.run").iterdir()) == sorted(
        ["lock", resume["weights"], resume["optimizer"]]
    )
    saved = json.loads((out / "mlp.json").read_text())
    assert saved == json.loads(json.dumps(card))
    assert saved["model"]["name"] == "mlp" and saved["classes"] == [str(d) for d in range(10)]
    assert saved["dataset"]["sha256"] == tiny.checksums
    assert len(saved["epochs"]) == 2 and saved["test_accuracy"] == saved["epochs"][-1]["test_accuracy"]
    assert saved["test_accuracy"] == accuracy_of_saved_model(out / "mlp.pdparams", tiny.splits["test"])
    assert len((out / "mlp.log.jsonl").read_text().splitlines()) == 2
    assert not list(out.glob(".*")) and not list((out / "mlp.run").glob(".*"))  # no temporary files left behind


def test_a_run_that_diverges_in_its_first_epoch_stops_in_one_line_and_saves_nothing(tmp_path, tiny):
    # SGD at a learning rate of a million sends the loss to NaN within the first epoch.
    with pytest.raises(UserError) as raised:
        fit(config(tmp_path, optimizer="sgd", lr=1e6), data=tiny, log=quiet)
    assert str(raised.value) == "training diverged in epoch 1 (loss nan); lower --lr"
    out = tmp_path / "models"
    # No card, no weights, no temporary file, not even the run's lock folder.
    assert sorted(path.relative_to(out).as_posix() for path in out.rglob("*")) == []
    fit(config(tmp_path, epochs=1, max_steps=1), data=tiny, log=quiet)  # the name is free: no --overwrite


def test_a_run_that_diverges_later_keeps_its_last_good_epoch_whole(tmp_path, tiny):
    # linreg's squared error at SGD 1000 overflows in epoch 2; epoch 1 was saved before it.
    with pytest.raises(UserError, match=r"^training diverged in epoch 2 \(loss inf\); lower --lr$"):
        fit(config(tmp_path, model="linreg", optimizer="sgd", lr=1e3), data=tiny, log=quiet)
    out = tmp_path / "models"
    card = checkpoint.read_card(out / "linreg.json")
    assert len(card["epochs"]) == 1 and card["resume"]["epoch"] == 1
    assert card["test_accuracy"] == accuracy_of_saved_model(out / "linreg.pdparams", tiny.splits["test"])
    assert not list(out.glob(".*")) and not list((out / "linreg.run").glob(".*"))  # no temporary files left


def test_same_seed_gives_the_same_metrics(tmp_path, tiny):
    first = fit(config(tmp_path / "a"), data=tiny, log=quiet)
    second = fit(config(tmp_path / "b"), data=tiny, log=quiet)

    def strip(card):
        timing = ("seconds", "images_per_second")
        return [{key: value for key, value in epoch.items() if key not in timing} for epoch in card["epochs"]]

    assert strip(first) == strip(second)


@pytest.mark.parametrize("model,optimizer,schedule", [("mlp", "adamw", "onecycle"), ("cnn", "momentum", "cosine")])
def test_resume_after_interruption_ends_with_the_same_weights(tmp_path, tiny, model, optimizer, schedule):
    settings = dict(model=model, optimizer=optimizer, lr_schedule=schedule, epochs=3, max_steps=2)
    fit(config(tmp_path / "straight", **settings), data=tiny, log=quiet)

    def interrupt_after_first_epoch(message):
        if message.startswith("epoch 1/3"):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fit(config(tmp_path / "resumed", **settings), data=tiny, log=interrupt_after_first_epoch)
    assert len(checkpoint.read_card(tmp_path / "resumed/models" / f"{model}.json")["epochs"]) == 1
    fit(config(tmp_path / "resumed", **settings), resume=True, data=tiny, log=quiet)

    straight = read_state(tmp_path / "straight/models" / f"{model}.pdparams")
    resumed = read_state(tmp_path / "resumed/models" / f"{model}.pdparams")
    assert straight.keys() == resumed.keys()
    for key in straight:
        np.testing.assert_array_equal(straight[key], resumed[key], err_msg=key)


def test_loading_into_the_wrong_architecture_names_both(tmp_path, tiny):
    fit(config(tmp_path, epochs=1, max_steps=1), data=tiny, log=quiet)
    with pytest.raises(
        checkpoint.CheckpointError, match=r"mlp.pdparams holds a 'mlp' model and does not fit model 'cnn'"
    ):
        checkpoint.load_weights(build_model("cnn"), tmp_path / "models/mlp.pdparams", "model 'cnn'")


def test_load_model_rebuilds_what_was_trained(tmp_path, tiny):
    fit(config(tmp_path, model="lenet5", epochs=1, max_steps=2), data=tiny, log=quiet)
    model, card = checkpoint.load_model(tmp_path / "models/lenet5.pdparams")
    images = paddle.to_tensor(tiny.splits["test"].images[:4, None].astype("float32") / 127.5 - 1)
    trained = build_model("lenet5")
    checkpoint.load_weights(trained, tmp_path / "models/lenet5.pdparams")
    trained.eval()
    np.testing.assert_allclose(model(images).numpy(), trained(images).numpy(), rtol=1e-6)
    assert card["model"]["name"] == "lenet5"


def test_missing_or_corrupt_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(checkpoint.CheckpointError, match="no such checkpoint"):
        checkpoint.load_weights(build_model("mlp"), tmp_path / "nope.pdparams")
    (tmp_path / "junk.pdparams").write_bytes(b"not a checkpoint")
    with pytest.raises(checkpoint.CheckpointError, match="not a Paddle checkpoint"):
        checkpoint.load_weights(build_model("mlp"), tmp_path / "junk.pdparams")


def test_regression_baseline_trains_and_reports(tmp_path, tiny):
    card = fit(config(tmp_path, model="linreg", optimizer="sgd", lr=0.001, epochs=1), data=tiny, log=quiet)
    assert card["model"]["task"] == "regress"
    weights = tmp_path / "models" / "linreg.pdparams"
    assert card["test_accuracy"] == accuracy_of_saved_model(weights, tiny.splits["test"])


def test_train_script_rejects_bad_flags(capsys):
    assert train_script.main(["--epochs", "0"]) == 2
    assert "--epochs must be at least 1" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        train_script.main(["--model", "resnet9000"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.endswith(
        "error: argument --model: invalid choice: 'resnet9000' (choose from "
        "'linreg', 'softmax', 'mlp-sigmoid', 'mlp', 'lenet5', 'cnn', 'cnn-fast')\n"
    )


def test_model_options_are_built_recorded_and_refused_in_one_line(tmp_path, tiny, capsys):
    flags = ["--dataset", "synth", "--model", "cnn", "--epochs", "1", "--max-steps", "1", "--out", str(tmp_path)]
    assert train_script.main([*flags, "--model-option", "width=4", "--model-option", "dropout=0.5"]) == 0
    card = json.loads((tmp_path / "cnn.json").read_text())
    assert card["model"]["options"] == {"width": 4, "dropout": 0.5}
    capsys.readouterr()
    assert train_script.main([*flags, "--name", "b", "--model-option", "bogus=1"]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "bogus" in error and not (tmp_path / "b.json").exists()
    assert train_script.main([*flags, "--name", "c", "--model-option", "width=abc"]) == 2
    error = capsys.readouterr().err
    assert error.startswith("error: --model-option width='abc': cnn cannot be built with it") and error.count("\n") == 1
    with pytest.raises(SystemExit):
        train_script.main([*flags, "--model-option", "width"])  # not KEY=VALUE: argparse says so
    assert "expected KEY=VALUE such as width=32" in capsys.readouterr().err


def test_validation_split_keeps_the_best_epoch(tmp_path, tiny):
    card = fit(config(tmp_path, epochs=4, lr=0.05, val_size=10), data=tiny, log=quiet)
    accuracies = [epoch["val_accuracy"] for epoch in card["epochs"]]
    best = max(range(len(accuracies)), key=lambda index: (accuracies[index], -index))  # first of the best
    assert card["kept_epoch"] == best + 1
    assert card["best_val_accuracy"] == accuracies[best]
    assert card["test_accuracy"] == card["epochs"][best]["test_accuracy"]
    assert (card["dataset"]["train"], card["dataset"]["val"]) == (20, 10)  # held out, not trained on
    # The run keeps the best epoch's weights for resuming beside the last epoch's, when they differ.
    kept_files = sorted((tmp_path / "models/mlp.run").glob("*.pdparams"))
    assert len(kept_files) == (2 if best != 3 else 1)
    assert card["resume"]["kept"].endswith(f"epoch-{best + 1:04d}.pdparams")


def test_train_py_with_no_flags_trains_the_shipped_cnns_recipe():
    """`python train.py` retrains models/cnn: its defaults are every setting the shipped card records
    (where it ran, what it was called and which data folder it read aside), and the model it builds
    is the card's, argument for argument."""
    from dataclasses import asdict
    from pathlib import Path

    from handwriting.config import RESUME_MAY_CHANGE
    from handwriting.models import resolved_options

    card = json.loads((Path(__file__).resolve().parent.parent / "models" / "cnn.json").read_text())
    defaults = asdict(TrainConfig())
    recorded = {key: card["config"].get(key, value) for key, value in defaults.items()}  # later settings: default
    differ = {
        key: (recorded[key], value)
        for key, value in defaults.items()
        if key not in (*RESUME_MAY_CHANGE, "model_options") and recorded[key] != value
    }
    assert differ == {}
    assert resolved_options(defaults["model"], **defaults["model_options"]) == card["model"]["options"]
