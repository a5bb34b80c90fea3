"""Looking inside a model: back-query, the robustness table and the model drawn."""

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from handwriting.backquery import back_query, inverse_query, invertible
from handwriting.backquery import main as backquery_main
from handwriting.models import build_model, count_parameters, layer_rows, summary
from handwriting.models import main as models_main
from handwriting.robustness import main as robustness_main
from handwriting.scratch.net import mlp
from tests.conftest import REAL_ROOT

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "models"


def decoded(path: Path) -> np.ndarray:
    """A PNG's pixels, proving it is a whole picture."""
    with Image.open(path) as picture:
        return np.asarray(picture.convert("RGB"))


# ----------------------------------------------------------------------------- back-query


def test_inverse_query_of_a_one_layer_sigmoid_net_points_each_class_at_its_own_weights():
    net = mlp(hidden=(), num_classes=3, in_features=4)
    net.layers[1].params["weight"] = np.eye(4, 3, dtype=np.float32)  # input i feeds class i (i < 3)
    pictures = inverse_query(net, 3, sigmoid_output=False)  # [3, 4] in [0.01, 0.99]
    assert pictures.shape == (3, 4)
    assert pictures.min() >= 0.01 - 1e-9 and pictures.max() <= 0.99 + 1e-9
    np.testing.assert_array_equal(pictures.argmax(axis=1), [0, 1, 2])


def article_backquery(weights: list[np.ndarray], targets: np.ndarray) -> np.ndarray:
    """Make Your Own Neural Network's backquery, transcribed: ``weights`` are its matrices [out, in]
    from input to output, ``targets`` one column [C]; every layer's signal min-max scaled to
    0.01-0.99 and put through the logit, and the output's sigmoid undone first."""

    def logit(p):
        return np.log(p / (1 - p))

    signal = logit(targets)
    for index, matrix in enumerate(reversed(weights)):
        signal = matrix.T @ signal
        signal = (signal - signal.min()) / (signal.max() - signal.min()) * 0.98 + 0.01
        if index < len(weights) - 1:
            signal = logit(signal)
    return signal


def test_inverse_query_is_the_articles_backquery_for_a_sigmoid_output_net():
    rng = np.random.default_rng(0)
    net = mlp(hidden=(6,), activation="sigmoid", num_classes=3, in_features=8, bias=False, sigmoid_output=True)
    first, second = rng.normal(size=(8, 6)), rng.normal(size=(6, 3))  # ours are [in, out], the article's [out, in]
    net.layers[1].params["weight"], net.layers[3].params["weight"] = first, second
    ours = inverse_query(net, 3, sigmoid_output=True)
    for label in range(3):
        targets = np.full(3, 0.01)
        targets[label] = 0.99
        np.testing.assert_allclose(ours[label], article_backquery([first.T, second.T], targets), rtol=1e-10)


def test_ascents_gradient_is_the_log_probabilitys_by_finite_differences_and_matches_paddles():
    from types import SimpleNamespace

    from handwriting.backquery import _Scorer
    from handwriting.bridge import paddle_to_scratch
    from handwriting.preprocess.pixels import normalize
    from handwriting.robustness import open_model

    rng = np.random.default_rng(1)
    net = mlp(hidden=(5,), activation="tanh", num_classes=3, in_features=16, seed=2, dtype=np.float64)
    backend = SimpleNamespace(net=net, scale=lambda pixels: pixels / 255.0, sigmoid_output=False)
    scorer, classes = _Scorer(backend), np.array([0, 2])
    x = rng.uniform(-1, 1, (2, 1, 4, 4))

    def objective(pictures):  # sum over pictures of log p(class | picture), inputs (x + 1) / 2
        logits = net.forward(((pictures.reshape(2, -1) + 1) / 2).astype(np.float32)).astype(np.float64)
        logits -= logits.max(axis=1, keepdims=True)
        log_p = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
        return log_p[np.arange(2), classes].sum()

    numeric = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        step = np.zeros_like(x)
        step[index] = 1e-3
        numeric[index] = (objective(x + step) - objective(x - step)) / 2e-3
    np.testing.assert_allclose(scorer.gradient(x, classes), numeric, rtol=1e-2, atol=1e-4)

    # The same gradient through Paddle's autograd, for the shipped mlp-sigmoid and its NumPy twin.
    paddle_backend = open_model(MODELS / "mlp-sigmoid.pdparams")
    twin, _ = paddle_to_scratch(MODELS / "mlp-sigmoid.pdparams")
    numpy_backend = SimpleNamespace(net=twin, scale=normalize, sigmoid_output=False)
    pictures = rng.uniform(-1, 1, (3, 1, 28, 28))
    wanted = np.array([3, 7, 9])
    np.testing.assert_allclose(
        _Scorer(numpy_backend).gradient(pictures, wanted),
        _Scorer(paddle_backend).gradient(pictures, wanted),
        rtol=1e-3,
        atol=1e-5,
    )


def test_only_sigmoid_networks_can_be_inverted():
    assert invertible(mlp(hidden=(8,), activation="sigmoid"))
    assert not invertible(mlp(hidden=(8,), activation="relu"))


@pytest.mark.parametrize(
    "model, method",  # the fashion model's pictures are committed too; this checks the digits
    [
        ("mlp-sigmoid.pdparams", "inverse"),
        ("scratch.npz", "ascent"),
        ("mlp.pdparams", "ascent"),
        ("cnn.pdparams", "ascent"),
    ],
)
def test_each_shipped_models_back_queried_digits_are_read_as_asked(model, method):
    queried, classes = back_query(MODELS / model, method="auto" if method != "ascent" else "ascent")
    assert queried.method == method
    assert queried.pictures.shape == (10, 28, 28) and queried.pictures.dtype == np.uint8
    assert (queried.predicted == np.arange(10)).sum() >= 8
    assert classes == [str(digit) for digit in range(10)]


def test_backquery_cli_writes_a_labelled_picture_and_refuses_inverse_for_a_cnn(tmp_path, capsys):
    out = tmp_path / "mlp-sigmoid.png"
    assert backquery_main([str(MODELS / "mlp-sigmoid.pdparams"), "--out", str(out)]) == 0
    assert "(inverse):" in capsys.readouterr().out
    assert decoded(out).shape[1] > 600  # ten panels side by side
    assert backquery_main([str(MODELS / "cnn.pdparams"), "--method", "inverse", "--out", str(tmp_path / "x.png")]) == 2
    error = capsys.readouterr().err.strip()
    assert error.count("\n") == 0 and "--method inverse needs a fully connected sigmoid network" in error
    assert not (tmp_path / "x.png").exists()


# ----------------------------------------------------------------------------- robustness


def test_robustness_table_agrees_with_scoring_the_corrupted_digits_directly(real_mnist, tmp_path, capsys):
    from handwriting.corruptions import corrupt
    from handwriting.robustness import open_model

    model = MODELS / "mlp-sigmoid.pdparams"
    argv = [str(model), str(MODELS / "scratch.npz"), "--only", "wavy,stripe", "--limit", "300"]
    assert robustness_main([*argv, "--data-dir", REAL_ROOT, "--out-dir", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "robustness.json").read_text())
    assert [row["path"] for row in report["models"]] == [str(model), str(MODELS / "scratch.npz")]
    test = real_mnist.splits["test"]
    backend = open_model(model)
    damaged = corrupt(test.images[:300], "wavy", seed=0)
    expected = (backend.probabilities(damaged).argmax(axis=1) == test.labels[:300]).mean()
    first = report["models"][0]
    assert first["corrupted"]["wavy"] == pytest.approx(expected)
    assert first["mean_corrupted"] == pytest.approx(np.mean(list(first["corrupted"].values())))
    table = (tmp_path / "robustness.md").read_text()
    assert f"| wavy | article | {expected:.2%} |" in table
    assert decoded(tmp_path / "robustness.mnist.png").size > 0


def test_robustness_refuses_an_unknown_corruption_and_a_missing_model_in_one_line(tmp_path, capsys):
    assert robustness_main([str(MODELS / "cnn.pdparams"), "--only", "wavy,smudge", "--out-dir", str(tmp_path)]) == 2
    assert "unknown corruption smudge" in capsys.readouterr().err
    assert robustness_main([str(tmp_path / "none.pdparams"), "--out-dir", str(tmp_path)]) == 2
    assert capsys.readouterr().err.strip().endswith("none.pdparams: no such model file")
    assert list(tmp_path.iterdir()) == []


# ----------------------------------------------------------------------------- the model drawn


def test_layer_rows_add_up_to_the_summary_and_the_parameter_count():
    model = build_model("cnn")
    rows = layer_rows(model)
    assert sum(count for _, _, count in rows) == count_parameters(model) == 339_554
    assert rows[0][:2] == ("Conv2D", [1, 24, 28, 28]) and rows[-1][:2] == ("Linear", [1, 10])
    assert summary(model).splitlines()[2].startswith("Conv2D")


def test_models_draw_makes_a_diagram_of_a_name_or_a_checkpoint(tmp_path, capsys):
    assert models_main(["draw", "cnn", "--out", str(tmp_path / "cnn.png")]) == 0
    assert "339,554" in capsys.readouterr().out
    tall = decoded(tmp_path / "cnn.png")
    assert tall.shape[0] > 2 * tall.shape[1]  # one box per layer, top to bottom
    assert models_main(["draw", str(MODELS / "fashion-cnn.pdparams"), "--out", str(tmp_path / "f.png")]) == 0
    assert "10 classes" in capsys.readouterr().out
    assert models_main(["draw", "resnet", "--out", str(tmp_path / "r.png")]) == 2
    assert "neither a model" in capsys.readouterr().err
    assert not (tmp_path / "r.png").exists()
    assert models_main(["summary", str(MODELS / "mlp.json")]) == 0  # a card names its checkpoint too
    assert "898,510" in capsys.readouterr().out
    assert models_main(["draw", "cnn", "--out", str(tmp_path)]) == 2  # a folder, not a file
    assert capsys.readouterr().err.strip().startswith(f"error: cannot write {tmp_path}")


def test_backquery_and_robustness_say_in_one_line_what_is_wrong(tmp_path, capsys):
    assert backquery_main([str(tmp_path)]) == 2
    assert capsys.readouterr().err.strip() == f"error: {tmp_path}: is a folder; give a model file (.pdparams or .npz)"
    assert backquery_main([str(MODELS / "cnn.pdparams"), "--seed", "-1"]) == 2
    assert "--seed at least 0" in capsys.readouterr().err
    assert robustness_main([str(MODELS / "cnn.pdparams"), "--seed", "-1", "--out-dir", str(tmp_path)]) == 2
    assert "--seed must be at least 0" in capsys.readouterr().err
    fake = tmp_path / "fake.npz"
    fake.write_bytes(b"not a network")
    assert backquery_main([str(fake), "--out", str(tmp_path / "x.png")]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    assert sorted(path.name for path in tmp_path.iterdir()) == ["fake.npz"]


def test_robustness_runs_offline_on_a_model_of_a_synthetic_dataset(trained, tmp_path, capsys):
    assert robustness_main([str(trained), "--only", "blur,stripe", "--out-dir", str(tmp_path / "out")]) == 0
    report = json.loads((tmp_path / "out" / "robustness.json").read_text())
    (row,) = report["models"]
    assert row["dataset"] == "synth" and set(row["corrupted"]) == {"blur", "stripe"}
    assert 0 <= row["mean_corrupted"] <= 1
    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == [
        "robustness.json",
        "robustness.md",
        "robustness.synth.png",
    ]
    assert "### synth" in capsys.readouterr().out
