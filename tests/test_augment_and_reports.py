"""Augmentation, the evaluation report and the CPU set-up."""

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import paddle
import pytest
from PIL import Image

from handwriting import runtime
from handwriting.augment import (
    DAMAGED_SHARE,
    random_affine,
    random_distort,
    random_flip_shift,
    random_wave,
    rotated_copies,
    warp,
)
from handwriting.checkpoint import load_model
from handwriting.data.store import SplitArrays
from handwriting.evaluate import evaluate_checkpoint
from handwriting.evaluate import main as evaluate_main
from handwriting.preprocess.pixels import normalize
from handwriting.rotation import rotate
from handwriting.scratch.train import ScratchConfig, training_set
from synthetic.pen import draw, to_uint8

ROOT = Path(__file__).resolve().parent.parent


def bar_pixels() -> np.ndarray:
    """A vertical white bar on black: uint8 [28, 28], as MNIST stores digits."""
    pixels = np.zeros((28, 28), dtype=np.uint8)
    pixels[6:22, 13:15] = 255
    return pixels


def bar_image():
    """The bar as the models see it: a [1, 1, 28, 28] tensor in [-1, 1]."""
    return paddle.to_tensor(normalize(bar_pixels())[None, None])


def damaged_by(recipe, images: paddle.Tensor, seed: int, **options) -> np.ndarray:
    """Which pictures ``recipe`` changed beyond ``affine``'s geometry -> bool [N]. Under one seed both
    draw the same affine maps first, so an undamaged picture is ``random_affine``'s, bit for bit."""
    paddle.seed(seed)
    made = recipe(images, **options).numpy()
    paddle.seed(seed)
    plain = random_affine(images).numpy()
    return np.abs(made - plain).reshape(len(made), -1).max(axis=1) > 0


def damaged_about_the_default_share(recipe, images: paddle.Tensor, seed: int) -> bool:
    """Whether ``recipe`` with its default share damaged DAMAGED_SHARE of ``images``, within 3 sigma
    of the binomial count (a coin per picture)."""
    count, share = len(images), DAMAGED_SHARE
    damaged = damaged_by(recipe, images, seed).sum()
    return abs(damaged - count * share) <= 3 * math.sqrt(count * share * (1 - share))


def wobble(pictures: np.ndarray) -> np.ndarray:
    """Per picture of the bar [N, 1, 28, 28], the largest distance of a row's centre of ink from the
    straight line through them all: 0 for a straight bar, about a pixel for a shaky hand."""
    weights = pictures[:, 0, 10:18] + 1  # [N, 8 rows, 28], background 0: rows the bar always crosses
    centres = (weights * np.arange(28)).sum(axis=2) / weights.sum(axis=2)  # [N, 8]
    rows = np.arange(8)
    return np.array([np.abs(c - np.polyval(np.polyfit(rows, c, 1), rows)).max() for c in centres])


def test_identity_warp_changes_nothing():
    image = bar_image()
    identity = paddle.to_tensor([[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]])
    np.testing.assert_allclose(warp(image, identity).numpy(), image.numpy(), atol=1e-5)


def test_warp_fills_the_new_border_with_background():
    image = paddle.ones([1, 1, 28, 28])  # all ink
    shifted = paddle.to_tensor([[[1.0, 0.0, 0.5], [0.0, 1.0, 0.0]]])  # move by a quarter width
    result = warp(image, shifted).numpy()[0, 0]
    assert result[:, -3:].max() == pytest.approx(-1.0)  # background came in, not grey 0
    assert result[:, :10].min() == pytest.approx(1.0)


def test_random_affine_keeps_shape_range_and_is_seeded():
    images = paddle.concat([bar_image()] * 8)
    paddle.seed(5)
    first = random_affine(images).numpy()
    paddle.seed(5)
    second = random_affine(images).numpy()
    assert first.shape == (8, 1, 28, 28)
    assert first.min() >= -1.0001 and first.max() <= 1.0001
    np.testing.assert_array_equal(first, second)
    assert not np.allclose(first[0], first[1])  # each image gets its own transform


def test_distort_keeps_shape_and_range_is_seeded_and_damages_its_share():
    images = paddle.concat([bar_image()] * 256)
    paddle.seed(7)
    first = random_distort(images, damaged_share=0.25).numpy()  # a quarter, whatever the default
    paddle.seed(7)
    np.testing.assert_array_equal(first, random_distort(images, damaged_share=0.25).numpy())
    assert first.shape == (256, 1, 28, 28)
    assert first.min() >= -1.0 and first.max() <= 1.0
    ink = (first > 0).sum(axis=(1, 2, 3))  # pixels brighter than mid-grey, per picture
    assert ink.max() > 1.4 * np.median(ink) and ink.min() < 0.8 * np.median(ink)  # wider and narrower pens
    background = first[:, 0, :4, :4].std(axis=(1, 2))  # a corner far from the bar: noise or nothing
    # About 256 * 1/4 (damaged) * NOISE_CHANCE (0.3) = 19 noisy pictures; the rest untouched.
    assert 8 <= (background > 0.05).sum() <= 40 and (background < 1e-6).sum() >= 200

    # A quarter of the pictures (the damaged ones) wobble: their rows' centres leave a straight line
    # by about a pixel (a shaky hand), where the plain affine warp keeps every picture's on one.
    paddle.seed(7)
    straight = wobble(random_affine(images).numpy())
    assert straight.max() < 0.25
    assert 0.1 < (wobble(first) > 0.25).mean() < 0.4
    # Exactly: 64 +- 21 (3 sigma) of the 256 differ from affine's at a quarter; DAMAGED_SHARE by default.
    assert abs(damaged_by(random_distort, images, 7, damaged_share=0.25).sum() - 64) <= 21
    assert damaged_about_the_default_share(random_distort, images, 7)
    assert not damaged_by(random_distort, images, 7, damaged_share=0.0).any()
    assert damaged_by(random_distort, images, 7, damaged_share=1.0).all()


def test_wave_wobbles_its_share_and_changes_neither_the_pen_nor_the_background():
    images = paddle.concat([bar_image()] * 64)
    paddle.seed(7)
    waved = random_wave(images).numpy()
    assert waved.shape == (64, 1, 28, 28) and waved.min() >= -1.0 and waved.max() <= 1.0
    assert damaged_about_the_default_share(random_wave, paddle.concat([bar_image()] * 256), 7)
    assert (wobble(waved) > 0.25).any()
    assert waved[:, 0, :4, :4].std(axis=(1, 2)).max() < 1e-6  # no noise anywhere
    # The same pen throughout: the ink's mass moves with the warp's zoom (1 +- 10% each way), no more
    # (a wider pen roughly doubles it, a narrower one halves it).
    mass = ((waved + 1) / 2).sum(axis=(1, 2, 3))
    assert 0.7 * np.median(mass) < mass.min() and mass.max() < 1.3 * np.median(mass)


def test_flip_shift_mirrors_about_half_and_shifts_at_most_two_pixels():
    pixels = np.zeros((28, 28), dtype=np.uint8)
    pixels[6:22, 8:10] = pixels[6:8, 8:18] = 255  # a 'Γ', not symmetric left to right
    images = paddle.to_tensor(np.repeat(normalize(pixels)[None, None], 64, axis=0))  # [64, 1, 28, 28]
    paddle.seed(3)
    unshifted = random_flip_shift(images, shift_pixels=0.0).numpy()
    original, mirrored = images.numpy()[0], images.numpy()[0][:, :, ::-1]
    is_original = [np.allclose(image, original, atol=1e-5) for image in unshifted]
    is_mirrored = [np.allclose(image, mirrored, atol=1e-5) for image in unshifted]
    assert all(a != b for a, b in zip(is_original, is_mirrored))  # each one exactly one of the two
    assert 16 <= sum(is_mirrored) <= 48
    shifted = random_flip_shift(images).numpy()
    ink = [np.argwhere(image[0] > 0) for image in shifted]
    rows = np.array([points[:, 0].mean() for points in ink])
    start = np.argwhere(original[0] > 0)[:, 0].mean()
    assert np.abs(rows - start).max() <= 2.01 and np.abs(rows - start).max() > 0.5


def test_rotated_copies_triple_the_split_and_rotate_by_ten_degrees():
    image = bar_pixels()
    split = SplitArrays(np.stack([image, image]), np.array([3, 4]))
    augmented = rotated_copies(split)
    assert augmented.images.shape == (6, 28, 28) and augmented.labels.tolist() == [3, 4, 3, 4, 3, 4]
    np.testing.assert_array_equal(augmented.images[:2], split.images)

    def tilt(picture):  # the slope of the bar's ink: columns moved per row
        rows, columns = np.nonzero(picture > 128)
        return np.polyfit(rows, columns, 1)[0]

    assert abs(tilt(augmented.images[0])) < 0.01
    for rotated in (augmented.images[2], augmented.images[4]):
        assert abs(abs(tilt(rotated)) - math.tan(math.radians(10))) < 0.05
    assert np.sign(tilt(augmented.images[2])) != np.sign(tilt(augmented.images[4]))


def drawn_digit(digit: int = 4) -> np.ndarray:
    """One of our pen-drawn digits in MNIST's frame: uint8 [1, 28, 28], white on black, 20 px
    tall with a 3 px pen (MNIST's strokes are ~2.4 px)."""
    coverage = draw(digit, 20, 3, np.random.default_rng(0), margin=0.2)  # [28, 28] in [0, 1]
    return to_uint8(coverage * 255)[None]


def test_rotate_turns_anticlockwise_about_the_centre_and_keeps_shape_and_dtype():
    image = np.zeros((1, 28, 28), np.uint8)
    image[0, 3:8, 20:25] = 200  # a block in the top-right corner
    np.testing.assert_array_equal(rotate(image, 0), image)
    np.testing.assert_array_equal(rotate(image, 90), np.rot90(image, k=1, axes=(1, 2)))
    turned = rotate(image, 10)
    assert turned.shape == image.shape and turned.dtype == np.uint8
    assert abs(int(turned.sum()) - int(image.sum())) < 0.05 * int(image.sum())


def test_turning_by_ten_degrees_and_back_nearly_restores_a_digit():
    digit = drawn_digit()
    back = rotate(rotate(digit, 10), -10)
    # Two bilinear resamplings blur the strokes a little (~16% of the ink moves to a neighbour;
    # one turn alone moves ~45%): the digit keeps its place and all its ink.
    turned_once = np.abs(rotate(digit, 10).astype(int) - digit.astype(int)).sum()
    turned_back = np.abs(back.astype(int) - digit.astype(int)).sum()
    assert turned_back < 0.2 * digit.sum() < 0.5 * turned_once
    assert abs(int(back.sum()) - int(digit.sum())) < 0.01 * digit.sum()
    rows, columns = np.nonzero(digit[0] > 128)
    back_rows, back_columns = np.nonzero(back[0] > 128)
    assert abs(rows.mean() - back_rows.mean()) < 0.3 and abs(columns.mean() - back_columns.mean()) < 0.3


def test_the_paddle_and_numpy_trainers_make_the_same_rotated_copies():
    """A drift guard: both trainers' ``rotate10`` go through ``handwriting.rotation`` today, so the
    copies agree by construction; this fails if either stops doing so (its own turning, other
    angles, no copies). What the turning does is checked by the tests of ``rotate`` above."""
    images = np.concatenate([drawn_digit(digit) for digit in range(10)])  # [10, 28, 28]
    labels = np.arange(10)
    paddle_side = rotated_copies(SplitArrays(images, labels))
    numpy_images, numpy_labels = training_set(ScratchConfig(augment="rotate10"), images, labels)
    np.testing.assert_array_equal(paddle_side.images, numpy_images)
    np.testing.assert_array_equal(paddle_side.labels, numpy_labels)
    # The originals, then one turned copy of each per angle (+10, -10 degrees), labels repeated.
    assert numpy_images.shape == (30, 28, 28)
    np.testing.assert_array_equal(numpy_images[:10], images)
    np.testing.assert_array_equal(numpy_labels, np.tile(labels, 3))
    np.testing.assert_array_equal(numpy_images[10:20], rotate(images, 10))
    np.testing.assert_array_equal(numpy_images[20:], rotate(images, -10))


def rgb_pixels(path: Path) -> np.ndarray:
    """A PNG's pixels, uint8 [H, W, 3]; decoding the whole file proves it is one."""
    with Image.open(path) as picture:
        assert picture.format == "PNG"
        return np.asarray(picture.convert("RGB"))


def test_training_writes_curves(trained):
    pixels = rgb_pixels(trained.with_name("softmax.curves.png"))
    height, width, _ = pixels.shape
    assert width > 2 * height  # accuracy and loss side by side
    colours = {tuple(colour) for colour in pixels.reshape(-1, 3)}
    assert {(31, 119, 180), (255, 127, 14)} <= colours  # matplotlib's first two colours: the train and test lines


def test_evaluate_report_agrees_with_its_confusion_matrix(trained, synthetic, tmp_path):
    report = evaluate_checkpoint(trained, out_dir=tmp_path / "report")
    matrix = np.array(report["confusion_matrix"])
    assert matrix.sum() == report["test_images"] == 12
    assert report["accuracy"] == pytest.approx(np.trace(matrix) / matrix.sum())
    assert report["errors"] == matrix.sum() - np.trace(matrix)
    labels = synthetic.arrays["t10k-labels-idx1-ubyte"]
    assert matrix.sum(axis=1).tolist() == np.bincount(labels, minlength=10).tolist()
    # The columns are what the saved model predicts, computed here without the evaluator.
    model, _ = load_model(trained)
    with paddle.no_grad():
        logits = model(paddle.to_tensor(normalize(synthetic.arrays["t10k-images-idx3-ubyte"])[:, None]))
    expected = np.zeros((10, 10), np.int64)
    np.add.at(expected, (labels, logits.numpy().argmax(axis=1)), 1)
    np.testing.assert_array_equal(matrix, expected)
    confusion = rgb_pixels(Path(report["confusion_png"]))
    assert abs(confusion.shape[0] - confusion.shape[1]) < 0.1 * confusion.shape[1]  # a square of cells
    assert (confusion == (8, 48, 107)).all(axis=-1).any()  # the largest count in the darkest blue of "Blues"
    errors = rgb_pixels(Path(report["errors_png"]))
    assert errors.shape[1] > errors.shape[0]  # rows of ten misread digits


def test_evaluate_cli_json_and_missing_checkpoint(trained, capsys, tmp_path):
    assert evaluate_main([str(trained), "--json", "--out-dir", str(tmp_path / "r")]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == evaluate_checkpoint(trained, out_dir=tmp_path / "r")
    assert printed["model"] == "softmax" and Path(printed["confusion_png"]).parent == tmp_path / "r"
    before = sorted(tmp_path.rglob("*"))
    assert evaluate_main([str(tmp_path / "missing.pdparams")]) == 2
    assert capsys.readouterr() == (
        "",
        f"error: {tmp_path / 'missing.pdparams'}: no such checkpoint; train one with train.py or pick one in models/\n",
    )
    assert sorted(tmp_path.rglob("*")) == before  # nothing written


def test_evaluate_draws_into_runs_and_beside_the_model_only_when_asked(trained, capsys, tmp_path, monkeypatch):
    models = trained.parent
    shipped = {path.name: path.read_bytes() for path in models.iterdir() if path.is_file()}
    monkeypatch.chdir(tmp_path)
    assert evaluate_main([str(trained)]) == 0
    assert {path.name: path.read_bytes() for path in models.iterdir() if path.is_file()} == shipped
    drawn = sorted(path.name for path in (tmp_path / "runs").iterdir())
    assert drawn == ["softmax.confusion.png", "softmax.errors.png"]
    assert "confusion matrix: runs/softmax.confusion.png" in capsys.readouterr().out
    assert evaluate_main([str(trained), "--out-dir", str(models)]) == 0
    assert (models / "softmax.confusion.png").is_file() and (models / "softmax.errors.png").is_file()


def test_mkl_avx2_path_is_requested_only_on_amd(monkeypatch):
    monkeypatch.delenv("MKL_DEBUG_CPU_TYPE", raising=False)
    monkeypatch.setattr(runtime, "_cpu_vendor", lambda: "GenuineIntel")
    runtime.prepare_environment()
    assert "MKL_DEBUG_CPU_TYPE" not in os.environ
    monkeypatch.setattr(runtime, "_cpu_vendor", lambda: "AuthenticAMD")
    runtime.prepare_environment()
    assert os.environ["MKL_DEBUG_CPU_TYPE"] == "5"


def test_users_own_mkl_setting_is_kept(monkeypatch):
    monkeypatch.setenv("MKL_DEBUG_CPU_TYPE", "2")
    monkeypatch.setattr(runtime, "_cpu_vendor", lambda: "AuthenticAMD")
    runtime.prepare_environment()
    assert os.environ["MKL_DEBUG_CPU_TYPE"] == "2"


def test_batch_norms_note_on_every_training_step_is_hidden_and_no_other():
    # In a process of its own: pyproject.toml hides the note from pytest, models.py from the tools.
    code = (
        "import warnings, paddle; from handwriting.models import build_model; model = build_model('cnn'); "
        "model.train(); model(paddle.zeros([2, 1, 28, 28])); warnings.warn('kept')"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert "always track global mean" not in done.stderr and "UserWarning: kept" in done.stderr


def test_paddles_ccache_warning_is_hidden_and_no_other():
    code = (
        "import warnings; from handwriting.runtime import quiet_paddle_import_warnings; "
        "quiet_paddle_import_warnings(); import paddle; warnings.warn('kept')"
    )
    quiet = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT).stderr
    assert "ccache" not in quiet and "UserWarning: kept" in quiet
    loud = subprocess.run(
        [sys.executable, "-c", "import paddle"], capture_output=True, text=True, check=True, cwd=ROOT
    ).stderr
    assert "No ccache found" in loud or shutil.which("ccache")  # what the helper hides (where ccache is missing)
