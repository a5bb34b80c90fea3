"""The damaged digits of the robustness table: each corruption keeps shape and range, is
deterministic, and does what its severity says."""

import numpy as np
import pytest

from handwriting.corruptions import CORRUPTIONS, FAMILIES, corrupt
from synthetic.pen import draw

# MNIST-C's fifteen (Mu & Gilmer 2019) and the article's six, by our names.
MNIST_C = [
    *("shot-noise", "impulse-noise", "glass-blur", "motion-blur", "shear", "scale", "rotate", "brightness"),
    *("translate", "stripe", "fog", "spatter", "dotted-line", "zigzag", "canny-edges"),
]
ARTICLE = ["broken", "blur", "chalk", "wavy", "gaussian-noise", "salt-pepper"]
# Those that draw nothing at random: the same pixels whatever the seed.
FIXED = {"blur", "scale", "brightness", "stripe", "canny-edges", "thick", "thin"}


def digits(count: int = 6) -> np.ndarray:
    """Pen-drawn digits as MNIST stores them: uint8 [count, 28, 28], white on black."""
    drawn = [draw(index % 10, 20, 2.5, np.random.default_rng(index)) for index in range(count)]  # [30, 30] in [0, 1]
    return np.stack([np.clip(np.rint(coverage[1:29, 1:29] * 255), 0, 255).astype(np.uint8) for coverage in drawn])


def bar() -> np.ndarray:
    """One vertical bar 4 px wide, rows 6-21: uint8 [1, 28, 28]."""
    image = np.zeros((1, 28, 28), np.uint8)
    image[0, 6:22, 12:16] = 255
    return image


def test_the_registry_holds_the_article_mnist_c_and_the_pen():
    by_family = {family: [c.name for c in CORRUPTIONS.values() if c.family == family] for family in FAMILIES}
    assert by_family["article"] == ARTICLE
    assert sorted(by_family["mnist-c"]) == sorted(MNIST_C)
    assert by_family["stroke"] == ["thick", "thin"]
    assert all(corruption.severity for corruption in CORRUPTIONS.values())


@pytest.mark.parametrize("name", list(CORRUPTIONS))
def test_each_keeps_shape_and_dtype_changes_the_digits_and_is_deterministic(name):
    images = digits()
    damaged = corrupt(images, name, seed=3)
    assert damaged.shape == images.shape and damaged.dtype == np.uint8
    assert not np.array_equal(damaged, images)
    np.testing.assert_array_equal(damaged, corrupt(images, name, seed=3))
    np.testing.assert_array_equal(images, digits())  # the input is left alone
    if name not in FIXED:
        assert not np.array_equal(damaged, corrupt(images, name, seed=4))


def test_corrupt_refuses_what_it_cannot_damage():
    with pytest.raises(KeyError, match="unknown corruption 'smudge'"):
        corrupt(digits(), "smudge")
    with pytest.raises(TypeError, match="uint8"):
        corrupt(digits().astype(np.float32), "blur")


def test_brightness_lifts_the_background_to_half_and_stripe_inverts_the_outer_quarters():
    image = bar()
    assert corrupt(image, "brightness")[0, 0, 0] == 128
    striped = corrupt(image, "stripe")[0]
    assert (striped[:, :7] == 255).all() and (striped[:, 21:] == 255).all()
    np.testing.assert_array_equal(striped[:, 7:21], image[0, :, 7:21])


def test_wavy_slides_rows_sideways_by_at_most_two_pixels():
    image = bar()
    shaken = corrupt(image, "wavy", seed=1)[0].astype(float)
    columns = np.arange(28)
    for row in range(8, 20):
        centre = (shaken[row] * columns).sum() / shaken[row].sum()
        assert abs(centre - 13.5) <= 2.0 + 1e-6
        assert shaken[row].sum() == pytest.approx(image[0, row].sum(), rel=0.02)  # ink slides, none is lost
    centres = [(shaken[row] * columns).sum() / shaken[row].sum() for row in range(6, 22)]
    assert max(centres) - min(centres) > 1.0  # the rows really moved, and not all together


def test_translate_moves_the_ink_three_pixels_each_way_and_scale_shrinks_it_to_seventy_percent():
    image = bar()
    moved = corrupt(image, "translate")[0].astype(float)
    rows, columns = np.nonzero(moved > 127)
    assert abs(columns.mean() - 13.5) == pytest.approx(3, abs=0.5)
    assert abs(rows.mean() - 13.5) == pytest.approx(3, abs=0.5)
    small = corrupt(image, "scale")[0]
    rows, _ = np.nonzero(small > 127)
    assert rows.max() - rows.min() + 1 == pytest.approx(0.7 * 16, abs=1.5)


def test_noise_corruptions_touch_the_share_of_pixels_they_state():
    images = np.zeros((20, 28, 28), np.uint8)
    salted = corrupt(images, "salt-pepper")
    assert (salted == 255).mean() == pytest.approx(0.05, abs=0.01)
    impulse = corrupt(images, "impulse-noise")
    assert (impulse == 255).mean() == pytest.approx(0.085, abs=0.01)


def test_a_wider_pen_adds_ink_a_narrower_one_removes_it_and_canny_leaves_outlines():
    images = digits()
    ink = (images > 127).sum()
    assert (corrupt(images, "thick") > 127).sum() > 1.5 * ink
    assert (corrupt(images, "thin") > 127).sum() < ink
    outlines = corrupt(bar(), "canny-edges")[0]
    assert set(np.unique(outlines)) <= {0, 255}
    assert outlines[14, 13] == 0 and outlines[14, 14] == 0  # the bar's inside is not an edge
    assert outlines[14, 10:18].max() == 255  # its sides are
