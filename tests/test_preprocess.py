"""handwriting.preprocess: any picture -> MNIST's 28x28 frame, the same way training data was made."""

import errno
import io
import os
import struct
import subprocess
import sys
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from handwriting.preprocess import NoInkError, PictureError, naive, normalize, read_picture, to_mnist
from synthetic.pen import draw, ink_slices, lighting, on_paper, to_uint8

ROOT = Path(__file__).resolve().parent.parent


def centre_of_mass(frame: np.ndarray) -> tuple[float, float]:
    mass = frame.astype(np.float64)
    rows, columns = np.mgrid[0 : frame.shape[0], 0 : frame.shape[1]]
    return (mass * rows).sum() / mass.sum(), (mass * columns).sum() / mass.sum()


def likeness(a: np.ndarray, b: np.ndarray) -> float:
    """Correlation of two frames, at the best of the shifts by up to a pixel (centring rounds)."""
    return max(
        float(np.corrcoef(np.roll(a, (dy, dx), axis=(0, 1)).ravel(), b.ravel())[0, 1])
        for dy in (-1, 0, 1)
        for dx in (-1, 0, 1)
    )


def ink_box(frame: np.ndarray) -> tuple[int, int]:
    rows, columns = np.nonzero(frame)
    return int(np.ptp(rows)) + 1, int(np.ptp(columns)) + 1


@pytest.fixture
def seven() -> np.ndarray:
    """Ink coverage [S, S] in [0, 1] of a 7 drawn 200 px tall with a 12 px pen."""
    return draw(7, 200, 12, np.random.default_rng(0))


@pytest.fixture
def seven_on_paper(seven) -> np.ndarray:
    """The 7 as dark ink on light paper, uint8 grey."""
    return to_uint8(on_paper(seven))


def save(array: np.ndarray, path, **options):
    Image.fromarray(array).save(path, **options)
    return path


# ------------------------------------------------------------------ the same tensor both ways


def test_training_digits_round_trip_through_png_unchanged(real_mnist, tmp_path):
    """A training digit written as a PNG and read back through the inference path gives exactly
    the tensor training used (for 59,997 of the 60,000: three have their centre of mass more than
    half a pixel from (14, 14), which MNIST's own centring left there)."""
    images = real_mnist.splits["train"].images[:2000]
    for index, digit in enumerate(images):
        path = save(digit, tmp_path / f"{index}.png")
        frame = to_mnist(read_picture(path))
        assert frame.dtype == np.uint8 and frame.shape == (28, 28)
        np.testing.assert_array_equal(normalize(frame), normalize(digit), err_msg=f"training digit {index}")


def test_mnist_digits_inverted_to_black_on_white_give_the_same_frame(real_mnist, tmp_path):
    for index, digit in enumerate(real_mnist.splits["test"].images[:200]):
        path = save(255 - digit, tmp_path / f"{index}.png")
        np.testing.assert_array_equal(to_mnist(read_picture(path)), digit)


def test_preprocessing_its_own_output_changes_nothing(seven_on_paper):
    frame = to_mnist(seven_on_paper)
    np.testing.assert_array_equal(to_mnist(frame), frame)


def test_the_input_scaling_imports_neither_opencv_nor_pillow():
    """The training-data loader and the NumPy-only scratch net import ``normalize``; the stages
    that need OpenCV and Pillow are loaded only when a picture is read or cleaned."""
    code = (
        "import sys; from handwriting.preprocess.pixels import NORMALISATION, normalize; "
        "from handwriting.preprocess import MNIST_SIZE, PictureError; "
        "print(sorted(m for m in ('cv2', 'PIL') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT).stdout
    assert out.strip() == "[]"


# ------------------------------------------------------------------ MNIST's geometry


def test_a_large_off_centre_photo_lands_in_mnists_frame(seven):
    rng = np.random.default_rng(1)
    page = np.zeros((700, 500), dtype=np.float32)
    page[380 : 380 + seven.shape[0], 20 : 20 + seven.shape[1]] = seven  # bottom-left corner
    photo = to_uint8(on_paper(page, 190, 40) * lighting(page.shape, rng) + rng.normal(0, 4, page.shape))
    frame = to_mnist(photo)
    assert frame.shape == (28, 28) and frame.dtype == np.uint8
    assert max(ink_box(frame)) in (19, 20)  # longest side scaled to MNIST's 20 px box
    row, column = centre_of_mass(frame)
    assert abs(row - 14) <= 0.5 and abs(column - 14) <= 0.5
    assert frame[0].max() == 0 and frame[:, 0].max() == 0  # paper is background (0)
    assert frame.max() >= 250  # strokes at full strength


def test_aspect_ratio_is_kept():
    one = draw(1, 300, 16, np.random.default_rng(0), width=0.3)  # a tall thin digit
    height, width = ink_box(to_mnist(to_uint8(on_paper(one))))
    assert height == 20 and width < 12


def test_dark_on_light_and_light_on_dark_give_the_same_frame(seven):
    rng = np.random.default_rng(2)
    grain = rng.normal(0, 3, seven.shape)
    dark_ink = to_uint8(on_paper(seven, 220, 30) + grain)
    light_ink = to_uint8(30 + 190 * seven + grain)  # chalk on a board
    assert likeness(to_mnist(dark_ink), to_mnist(light_ink)) > 0.95


def test_uneven_light_and_noise_do_not_become_ink(seven):
    rng = np.random.default_rng(3)
    clean = to_mnist(to_uint8(on_paper(seven)))
    photo = on_paper(seven, 200, 50) * lighting(seven.shape, rng, strength=0.5) + rng.normal(0, 8, seven.shape)
    frame = to_mnist(to_uint8(photo))
    assert likeness(frame, clean) > 0.9
    assert ink_box(frame) == pytest.approx(ink_box(clean), abs=1)


def test_a_sheet_of_paper_on_a_dark_table(seven):
    """A phone photo of the sheet, askew on a table: the table's edges are not ink."""
    import cv2

    side = seven.shape[0]
    frame = np.zeros((round(side * 1.6), round(side * 1.7)), np.float32)
    top, left = (frame.shape[0] - side) // 2, (frame.shape[1] - side) // 2
    corners = np.array([[left - 30, top - 10], [left + side + 20, top - 35], [left + side + 5, top + side + 25],
                        [left - 15, top + side + 10]], np.int32)  # fmt: skip
    sheet = np.zeros_like(frame)
    cv2.fillConvexPoly(sheet, corners, 1.0, lineType=cv2.LINE_AA)
    ink = np.zeros_like(frame)
    ink[top : top + side, left : left + side] = seven
    rng = np.random.default_rng(4)
    photo = (70 + 140 * sheet) * (1 - 0.8 * ink) * lighting(frame.shape, rng, 0.2) + rng.normal(0, 3, frame.shape)
    plain = to_mnist(to_uint8(on_paper(seven)))
    on_table = to_mnist(to_uint8(photo))
    assert ink_box(on_table) == pytest.approx(ink_box(plain), abs=1)
    assert likeness(on_table, plain) > 0.9


@pytest.mark.parametrize("softness", [1, 12])
def test_a_shadow_cast_across_the_page_is_not_ink(seven, softness):
    import cv2

    side = seven.shape[0]
    rows, columns = np.mgrid[0:side, 0:side]
    shadow = cv2.GaussianBlur(((rows + 0.6 * columns) > 0.8 * side).astype(np.float32), (0, 0), softness)
    photo = on_paper(seven, 215, 35) * (1 - 0.45 * shadow) + np.random.default_rng(5).normal(0, 3, seven.shape)
    plain = to_mnist(to_uint8(on_paper(seven, 215, 35)))
    shaded = to_mnist(to_uint8(photo))
    assert ink_box(shaded) == pytest.approx(ink_box(plain), abs=1)
    assert likeness(shaded, plain) > 0.9


@pytest.mark.parametrize("grain", [0, 4], ids=["drawing", "photo"])
def test_specks_are_dropped(seven, grain):
    page = on_paper(seven) + np.random.default_rng(0).normal(0, grain, seven.shape)
    page[5:8, 5:8] = 0  # flecks of dust in the corners, far from the digit
    page[-9:-6, -9:-6] = 0
    plain = on_paper(seven) + np.random.default_rng(0).normal(0, grain, seven.shape)
    assert ink_box(to_mnist(to_uint8(page))) == ink_box(to_mnist(to_uint8(plain)))


def test_ruled_paper_lines_are_removed(seven):
    plain = to_mnist(to_uint8(on_paper(seven, 245, 25)))
    page = on_paper(seven, 245, 25)
    page = np.minimum(page, np.where(np.arange(page.shape[0])[:, None] % 30 < 2, 205, 255))  # pale rules
    ruled = to_mnist(to_uint8(page))
    assert ink_box(ruled) == pytest.approx(ink_box(plain), abs=1)
    assert likeness(ruled, plain) > 0.9


@pytest.mark.parametrize("digit", [0, 2, 4, 7, 9])
@pytest.mark.parametrize("grain", [0, 4], ids=["drawing", "photo"])
def test_a_fat_pen_cropped_close_reads_as_with_paper_around(digit, grain):
    """A picture cropped right to the ink (a fat pen's strokes run out of it on every side)
    gives the frame the same digit gives with a margin of paper: strokes, not their outlines."""
    coverage = draw(digit, 200, 24, np.random.default_rng(digit))
    noise = np.random.default_rng(1).normal(0, grain, coverage.shape)
    with_margin = to_uint8(on_paper(coverage, 200, 50) + noise)
    cropped = with_margin[ink_slices(coverage)]
    assert likeness(to_mnist(cropped), to_mnist(with_margin)) > 0.9


def test_a_fine_pen_on_a_large_picture_gets_mnist_thick_strokes():
    hairline = to_uint8(on_paper(draw(4, 900, 2.5, np.random.default_rng(0))))
    frame = to_mnist(hairline)
    strong = frame >= 128
    assert strong.sum() > 40  # not a faint hairline: MNIST digits have ~100-200 such pixels
    assert frame.max() == 255


# ------------------------------------------------------------------ reading files


@pytest.mark.parametrize(
    "suffix, options, tolerance",
    [
        (".png", {}, 0),
        (".bmp", {}, 0),
        (".tif", {}, 0),
        (".webp", {"lossless": True}, 0),
        (".jpg", {"quality": 90}, 6),
        (".webp", {"quality": 80}, 8),
    ],
)
def test_picture_formats(seven_on_paper, tmp_path, suffix, options, tolerance):
    path = save(seven_on_paper, tmp_path / f"seven{suffix}", **options)
    grey = read_picture(path)
    assert grey.shape == seven_on_paper.shape and grey.dtype == np.uint8
    assert np.abs(grey.astype(int) - seven_on_paper.astype(int)).mean() <= tolerance
    assert likeness(to_mnist(grey), to_mnist(seven_on_paper)) > 0.9


def test_sixteen_bit_grey_is_scaled_not_clipped(seven_on_paper, tmp_path):
    path = save(seven_on_paper.astype(np.uint16) * 257, tmp_path / "scan16.png")
    assert Image.open(path).mode == "I;16"
    np.testing.assert_array_equal(read_picture(path), seven_on_paper)


def test_gif_gives_its_first_frame(seven_on_paper, tmp_path):
    first = Image.fromarray(seven_on_paper)
    second = Image.fromarray(np.full_like(seven_on_paper, 255))
    path = tmp_path / "animated.gif"
    first.save(path, save_all=True, append_images=[second], duration=100)
    assert Image.open(path).n_frames == 2
    np.testing.assert_array_equal(read_picture(path), seven_on_paper)


def test_exif_orientation_is_applied(seven_on_paper, tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6  # viewers turn it 90 degrees clockwise
    path = tmp_path / "sideways.png"
    Image.fromarray(np.ascontiguousarray(np.rot90(seven_on_paper))).save(path, exif=exif.tobytes())
    np.testing.assert_array_equal(read_picture(path), seven_on_paper)


def test_colour_is_read_as_brightness(seven, tmp_path):
    paper, pen = np.array([250.0, 248, 240]), np.array([30.0, 50, 160])  # blue ballpoint
    rgb = to_uint8(paper - (paper - pen) * seven[..., None])
    grey = read_picture(save(rgb, tmp_path / "blue.png"))
    assert grey.shape == seven.shape
    assert grey[seven > 0.9].mean() < 80 and grey[seven == 0].mean() > 230


@pytest.mark.parametrize("stroke_value", [0, 255])
def test_transparent_canvas_strokes_become_ink(seven, tmp_path, stroke_value):
    """A drawing app's canvas: colour only where drawn, alpha elsewhere 0 — black or white strokes."""
    rgba = np.zeros((*seven.shape, 4), dtype=np.uint8)
    rgba[..., :3] = stroke_value
    rgba[..., 3] = to_uint8(seven * 255)
    grey = read_picture(save(rgba, tmp_path / "canvas.png"))
    background = grey[seven == 0].mean()
    assert background == (255 if stroke_value == 0 else 0)  # opposite to the strokes
    expected = to_mnist(to_uint8(on_paper(seven, 255, 0)))
    np.testing.assert_array_equal(to_mnist(grey), expected)


# ------------------------------------------------------------------ no guessing, clear refusals


@pytest.mark.parametrize(
    "picture",
    [
        np.full((100, 80), 230, np.uint8),  # blank paper
        np.zeros((28, 28), np.uint8),  # black
        to_uint8(np.random.default_rng(0).normal(200, 6, (300, 300))),  # paper grain only
        to_uint8(np.tile(np.linspace(120, 240, 400), (300, 1))),  # a lighting gradient only
        to_uint8(on_paper(np.zeros((3, 3)))),  # too small to hold anything
    ],
    ids=["blank", "black", "grain", "gradient", "tiny"],
)
def test_no_handwriting_is_refused_not_guessed(picture):
    with pytest.raises(NoInkError, match="no handwriting found"):
        to_mnist(picture)


def test_fully_transparent_picture_has_no_handwriting(tmp_path):
    path = save(np.zeros((50, 50, 4), np.uint8), tmp_path / "empty-canvas.png")
    with pytest.raises(NoInkError):
        to_mnist(read_picture(path))


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims ``width`` x ``height`` pixels and holds almost no data."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    )


def test_decompression_bomb_is_refused_before_decoding(tmp_path):
    path = tmp_path / "bomb.png"
    path.write_bytes(png_header_only(30_000, 30_000))  # 900 megapixels claimed in 100 bytes
    with pytest.raises(PictureError, match="64-megapixel limit"):
        read_picture(path)


def test_the_pixel_limit_is_ours(seven_on_paper, tmp_path, monkeypatch):
    path = save(seven_on_paper, tmp_path / "seven.png")
    monkeypatch.setattr("handwriting.preprocess.read.MAX_PIXELS", 1000)
    with pytest.raises(PictureError, match="megapixel limit"):
        read_picture(path)


def test_unreadable_files_say_why(seven_on_paper, tmp_path):
    good = save(seven_on_paper, tmp_path / "seven.png").read_bytes()
    (tmp_path / "truncated.png").write_bytes(good[: len(good) // 2])
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "notes.png").write_text("this is not a picture\n")
    (tmp_path / "photo.heic").write_bytes(b"\0\0\0\x18ftypheic" + bytes(64))  # a HEIC header, no plugin
    cases = {
        "truncated.png": "damaged or truncated",
        "empty.png": "empty file",
        "notes.png": "not a picture Pillow can read",
        "missing.png": "no such file",
        "photo.heic": "pillow-heif",
        ".": "is a directory",
    }
    for name, message in cases.items():
        with pytest.raises(PictureError, match=message):
            read_picture(tmp_path / name)


# ------------------------------------------------------------------ inputs found by fuzzing (tests/fuzzing.py)


def three_dark_dots(height: int, width: int) -> np.ndarray:
    """White paper with three single dark pixels spread along its longer side."""
    picture = np.full((height, width), 255, np.uint8)
    picture.reshape(-1)[[3, 10, 20]] = 0
    return picture


def test_a_few_lone_dots_are_no_handwriting_at_any_shape():
    # 30x1 with three dark pixels: every piece a speck, none big, and min() of nothing raised ValueError.
    for picture in (three_dark_dots(1, 30), three_dark_dots(30, 1)):
        with pytest.raises(NoInkError, match="only specks"):
            to_mnist(picture)


@pytest.mark.parametrize("shape", [(1, 1), (1, 2), (2, 1), (2, 2), (1, 30), (30, 1), (3, 64), (64, 2)])
@pytest.mark.parametrize("content", ["flat", "dots", "line", "noise"])
def test_tiny_and_degenerate_shapes_give_a_frame_or_no_handwriting(shape, content):
    picture = np.full(shape, 255, np.uint8)
    if content == "dots":
        picture.reshape(-1)[::3] = 0
    elif content == "line":
        picture[shape[0] // 2, :] = 0
        picture[:, shape[1] // 2] = 0
    elif content == "noise":
        picture = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    for recipe in (to_mnist, naive):
        try:
            frame = recipe(picture)
        except NoInkError:
            continue
        assert frame.dtype == np.uint8 and frame.shape == (28, 28)


# An 8x8 TIFF whose StripOffsets field (0x111) has the type RATIONAL: Pillow's TIFF reader hands
# an IFDRational where it needs an integer and raises TypeError, not one of its usual errors.
TIFF_WITH_A_FRACTION_FOR_AN_OFFSET = (
    b"II*\x00\x08\x00\x00\x00\t\x00\x00\x01\x04\x00\x01\x00\x00\x00\x04\x00\x00\x00\x01\x01\x04\x00\x01\x00"
    b"\x00\x00\x04\x00\x00\x00\x02\x01\x03\x00\x01\x00\x00\x00\x08\x00\x00\x00\x03\x01\x03\x00\x01\x00\x00\x00"
    b"\x01\x00\x00\x00\x06\x01\x03\x00\x01\x00\x00\x00\x01\x00\x00\x00\x11\x01\x05\x00\x01\x00\x00\x00\x08\x00"
    b"\x00\x00\x16\x01\x04\x00\x01\x00\x00\x00\x04\x00\x00\x00\x17\x01\x04\x00\x01\x00\x00\x00\x10\x00\x00\x00"
    b"\x1c\x01\x03\x00\x01\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00" + b"\xc8" * 16
)


def test_a_tiff_that_breaks_pillow_with_a_type_error_is_a_damaged_picture(tmp_path):
    (tmp_path / "mutated.tif").write_bytes(TIFF_WITH_A_FRACTION_FOR_AN_OFFSET)
    with pytest.raises(PictureError, match=r"damaged or truncated picture \(TypeError: 'IFDRational'"):
        read_picture(tmp_path / "mutated.tif")


def tiff_fields(data: bytes) -> dict[int, int]:
    """Tag -> the byte offset of its 12-byte entry in the first directory of a little-endian TIFF."""
    directory = struct.unpack_from("<I", data, 4)[0]
    count = struct.unpack_from("<H", data, directory)[0]
    entries = [directory + 2 + 12 * index for index in range(count)]
    return {struct.unpack_from("<H", data, entry)[0]: entry for entry in entries}


def test_float_pictures_with_signalling_nans_read_without_a_warning(tmp_path):
    values = np.full((4, 4), 0.5, np.float32)
    values.view(np.uint32)[0, 0] = 0x7FA00000  # a signalling NaN: widening it to float64 warned
    values[0, 1] = np.inf
    save(values, tmp_path / "scan.tif")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        grey = read_picture(tmp_path / "scan.tif")
    assert grey.dtype == np.uint8 and grey[0, 0] == 0 and grey[0, 1] == 0 and grey[1, 1] > 0


def test_what_pillow_and_libtiff_say_about_a_broken_file_never_reaches_the_screen(tmp_path):
    """libtiff prints its errors on file descriptor 2 and Pillow logs others; only our line may show."""
    broken = io.BytesIO()
    Image.fromarray(np.arange(64, dtype=np.uint8).reshape(8, 8)).save(
        broken, format="TIFF", compression="tiff_adobe_deflate"
    )
    broken = bytearray(broken.getvalue())
    broken[12:20] = b"\xff" * 8  # inside the compressed strip, which starts at byte 8
    (tmp_path / "broken-deflate.tif").write_bytes(broken)
    logged = bytearray(save(np.zeros((8, 8), np.uint8), tmp_path / "plain.tif").read_bytes())
    struct.pack_into("<HHII", logged, tiff_fields(logged)[0x11C], 0x115, 3, 1, 1024)  # 1,024 samples a pixel
    (tmp_path / "too-many-samples.tif").write_bytes(logged)
    code = (
        "import sys\n"
        "from handwriting.preprocess import PictureError, read_picture\n"
        "for path in sys.argv[1:]:\n"
        "    try:\n"
        "        read_picture(path)\n"
        "    except PictureError as error:\n"
        "        print(error)\n"
    )
    names = [str(tmp_path / "broken-deflate.tif"), str(tmp_path / "too-many-samples.tif")]
    done = subprocess.run([sys.executable, "-c", code, *names], capture_output=True, text=True, cwd=ROOT)
    assert done.stderr == ""
    lines = done.stdout.splitlines()
    assert len(lines) == 2 and "damaged or truncated picture (OSError" in lines[0] and "not a picture" in lines[1]


def test_a_named_pipe_is_refused_before_it_is_opened(tmp_path):
    os.mkfifo(tmp_path / "pipe.png")  # opening it to read would wait for a writer for ever
    with pytest.raises(PictureError, match="a named pipe, not a picture file"):
        read_picture(tmp_path / "pipe.png")


def test_a_file_that_may_not_be_read_says_so(seven_on_paper, tmp_path, monkeypatch):
    path = save(seven_on_paper, tmp_path / "locked.png")

    def refused(name, *args, **kwargs):  # we run as root, for whom chmod 000 changes nothing
        raise PermissionError(errno.EACCES, "Permission denied", str(name))

    monkeypatch.setattr("handwriting.preprocess.read.open", refused, raising=False)
    with pytest.raises(PictureError, match="cannot read it: permission denied"):
        read_picture(path)


def test_a_name_too_long_for_the_file_system_says_so(tmp_path):
    with pytest.raises(PictureError, match="file name too long"):
        read_picture(tmp_path / ("x" * 300 + ".png"))


# ------------------------------------------------------------------ the other recipes


def test_naive_recipe_squashes_and_inverts():
    picture = np.full((50, 100), 255, np.uint8)
    picture[:, :50] = 0  # left half black
    frame = naive(picture)
    assert frame.shape == (28, 28)
    assert frame[:, :13].min() == 255 and frame[:, 15:].max() == 0
