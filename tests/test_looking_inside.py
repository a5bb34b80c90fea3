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


def test_only_sigmoid_networks_can_be_inverted():
    assert invertible(mlp(hidden=(8,), activation="sigmoid"))
    assert not invertible(mlp(hidden=(8,), activation="relu"))


@pytest.mark.parametrize(
    "model, method",
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
    assert sum(count for _, _, count in rows) == count_parameters(model) == 218_778
    assert rows[0][:2] == ("Conv2D", [1, 16, 28, 28]) and rows[-1][:2] == ("Linear", [1, 10])
    assert summary(model).splitlines()[2].startswith("Conv2D")


def test_models_draw_makes_a_diagram_of_a_name_or_a_checkpoint(tmp_path, capsys):
    assert models_main(["draw", "cnn", "--out", str(tmp_path / "cnn.png")]) == 0
    assert "218,778" in capsys.readouterr().out
    tall = decoded(tmp_path / "cnn.png")
    assert tall.shape[0] > 2 * tall.shape[1]  # one box per layer, top to bottom
    assert models_main(["draw", str(MODELS / "fashion-cnn.pdparams"), "--out", str(tmp_path / "f.png")]) == 0
    assert "10 classes" in capsys.readouterr().out
    assert models_main(["draw", "resnet", "--out", str(tmp_path / "r.png")]) == 2
    assert "neither a model" in capsys.readouterr().err
    assert not (tmp_path / "r.png").exists()
