"""The line reader: its CTC arithmetic against Paddle's, its input shared with training, how its
reading replaces a cut one, and the shipped ``models/lines`` on rows of our own pen's digits."""

import json
from pathlib import Path

import numpy as np
import pytest

from handwriting import lines
from handwriting.lines import BLANK, best_path, log_likelihood, log_softmax
from handwriting.preprocess.frame import frame_mnist
from handwriting.preprocess.line import INK_HEIGHT, LINE_HEIGHT, MARGIN, line_image
from handwriting.preprocess.marks import Mark
from handwriting.recognise import Character, _line_checked, recognise
from handwriting.train_lines import packed, unpacked
from synthetic.lines import examples

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("text", ["7", "11", "3907", "44", "12", "100"])
def test_log_likelihood_is_what_paddles_ctc_loss_minimises(text):
    import paddle

    rng = np.random.default_rng(len(text))
    columns = 2 * len(text) + 3
    log_probabilities = log_softmax(rng.normal(size=(columns, 11)))
    loss = paddle.nn.CTCLoss(blank=BLANK, reduction="none")(
        paddle.to_tensor(log_probabilities[:, None].astype(np.float32)),  # [T, N, C]
        paddle.to_tensor(np.array([[int(digit) + 1 for digit in text]], np.int32)),
        paddle.to_tensor([columns], "int64"),
        paddle.to_tensor([len(text)], "int64"),
    )
    np.testing.assert_allclose(log_likelihood(log_probabilities, text), -float(loss.numpy().ravel()[0]), rtol=1e-5)


def test_log_likelihood_of_nothing_is_all_blank_and_of_too_much_is_impossible():
    log_probabilities = log_softmax(np.random.default_rng(0).normal(size=(4, 11)))
    assert log_likelihood(log_probabilities, "") == pytest.approx(log_probabilities[:, BLANK].sum())
    assert log_likelihood(log_probabilities, "1111") == -np.inf  # four 1s need 7 columns: 1, blank, 1, ...


def one_hot_columns(classes: list[int], sure: float = 8.0) -> np.ndarray:
    logits = np.zeros((len(classes), 11))
    logits[np.arange(len(classes)), classes] = sure
    return logits


def test_best_path_merges_repeats_and_keeps_those_a_blank_separates():
    text, confidences, middles = best_path(one_hot_columns([0, 2, 2, 0, 2, 0, 0, 10, 10, 10]))
    assert text == "119"
    assert middles == [1.5, 4.0, 8.0]
    assert all(0.99 < confidence < 1 for confidence in confidences)


def test_a_line_is_cropped_scaled_to_the_ink_height_and_given_margins():
    ink = np.zeros((100, 300), np.uint8)
    ink[20:76, 50:162] = 255  # 56 tall, 112 wide
    image, scale, first = line_image(ink)
    assert image.shape == (LINE_HEIGHT, 112 // 2 + 2 * MARGIN)
    assert scale == INK_HEIGHT / 56 and first == 50
    assert image[:2].max() == 0 and image[:, :MARGIN].max() == 0 and image[2:30, MARGIN:-MARGIN].min() == 255
    with pytest.raises(ValueError):
        line_image(np.zeros((10, 10), np.uint8))


def test_the_training_lines_are_made_by_the_function_that_cuts_a_persons_line():
    rng = np.random.default_rng(0)
    digits = np.zeros((8, 28, 28), np.uint8)
    digits[:, 6:22, 12:16] = 255  # bars, "1"s, enough for the longest line
    made, texts = examples(digits, np.ones(8, np.int64), 5, rng)
    assert all(line.shape[0] == LINE_HEIGHT and line[:, :MARGIN].max() == 0 for line in made)
    assert all(set(text) == {"1"} and 1 <= len(text) <= 8 for text in texts)


def test_lines_files_round_trip(tmp_path):
    rng = np.random.default_rng(1)
    made = [rng.integers(0, 256, (LINE_HEIGHT, width), dtype=np.uint8) for width in (20, 37, 5)]
    (tmp_path / "lines.npz").write_bytes(packed(made, ["1", "2345678", "90"]))
    back, texts = unpacked(tmp_path / "lines.npz")
    assert texts == ["1", "2345678", "90"]
    assert all(np.array_equal(a, b) for a, b in zip(made, back))


class FakeReader:
    """Reads every line as ``labels``, each at its share of the line's width (its columns as wide
    as the line image's, as the real reader's), whatever the ink."""

    def __init__(self, labels: str, at: list[float], sure: float = 8.0):
        self.labels, self.at, self.sure = labels, at, sure

    def logits(self, line: np.ndarray) -> np.ndarray:
        columns = line.shape[1] // lines.STRIDE
        classes = [BLANK] * columns
        for label, share in zip(self.labels, self.at):
            classes[min(columns - 1, int(share * columns))] = int(label) + 1
        return one_hot_columns(classes, self.sure)


def marks_and_characters(labels: str, widths: list[int], gap: int = 10):
    marks, characters, left = [], [], 0
    for label, width in zip(labels, widths):
        stroke = np.full((40, width), 255, np.uint8)
        marks.append(Mark(0, 40, left, left + width, stroke, 0))
        box = (left, 0, left + width, 40)
        characters.append(Character(label, 0.99, [(label, 0.99)], frame_mnist(stroke), box, 0, False))
        left += width + gap
    return marks, characters


def text(characters: list[Character]) -> str:
    return "".join(character.label for character in characters)


def test_a_sure_line_reader_corrects_a_character_and_keeps_the_boxes():
    marks, characters = marks_and_characters("17", [20, 20])
    checked = _line_checked(marks, characters, frame_mnist, FakeReader("19", [0.3, 0.7]), topk=3)
    assert text(checked) == "19"
    assert [character.box for character in checked] == [character.box for character in characters]
    assert len(checked[1].topk) == 3 and checked[1].topk[0] == ("9", checked[1].confidence)
    assert 0.99 < checked[1].confidence <= 1  # given the 1 before it, a 9 where the reader is sure of one


def test_an_unsure_line_reader_leaves_the_cut_reading_alone():
    marks, characters = marks_and_characters("17", [20, 20])
    assert _line_checked(marks, characters, frame_mnist, FakeReader("19", [0.3, 0.7], sure=1.0)) == characters


def test_a_line_of_one_mark_is_never_changed():
    marks, characters = marks_and_characters("4", [80])
    assert _line_checked(marks, characters, frame_mnist, FakeReader("94", [0.3, 0.7])) == characters


def test_a_line_reader_that_finds_another_character_cuts_the_line_between_its_characters():
    marks, characters = marks_and_characters("41", [80, 20])  # a wide mark, and a narrow one 10 px on
    checked = _line_checked(marks, characters, frame_mnist, FakeReader("941", [0.15, 0.58, 0.88]))
    assert text(checked) == "941"
    boxes = [character.box for character in checked]
    assert boxes[0][0] == 0 and boxes[-1][2] == 110  # from the line's left to its right ...
    assert boxes[0][2] == boxes[1][0] and boxes[1][2] == boxes[2][0]  # ... side by side
    assert boxes[0][2] < 80 < boxes[1][2] <= 90  # the wide mark cut in two, the narrow one (90-110) whole


def test_a_character_read_where_there_is_no_ink_keeps_the_cut_reading():
    marks, characters = marks_and_characters("11", [10, 10], gap=100)
    assert _line_checked(marks, characters, frame_mnist, FakeReader("171", [0.05, 0.5, 0.95])) == characters


def test_a_line_too_long_for_the_reader_is_not_read():
    ink = np.zeros((20, 4000), np.uint8)
    ink[:, ::50] = 255  # 80 strokes across 4000 px at 20 px tall: 5600 px once 28 px tall
    assert lines.read_line(ink, FakeReader("1", [0.5])) is None


def test_probabilities_of_each_place_sum_to_one_and_favour_what_was_read():
    reading = lines.LineReading("19", [], [], log_softmax(one_hot_columns([0, 2, 0, 10, 0], sure=4.0)))
    probabilities = reading.probabilities()
    np.testing.assert_allclose(probabilities.sum(axis=1), 1)
    assert [int(row.argmax()) for row in probabilities] == [1, 9]


@pytest.fixture(scope="module")
def shipped_reader():
    reader = lines.line_reader()
    if reader is None:
        pytest.fail("models/lines.onnx could not be loaded")
    return reader


@pytest.mark.parametrize("text", ["205921", "3074", "16", "900"])
def test_the_shipped_line_reader_reads_rows_of_our_pens_digits(text, shipped_reader):
    from synthetic.rows import pen_digits, write_row

    rng = np.random.default_rng(5)
    row = write_row(pen_digits(text, rng), rng, touching=0.5, broken=0.0)
    assert lines.read_line(np.round(255 * row.ink).astype(np.uint8), shipped_reader).text == text


def test_the_shipped_line_readers_onnx_export_is_its_paddle_weights(shipped_reader):
    import paddle

    from handwriting.train_lines import build_reader
    from handwriting.weights import read_state

    card = json.loads((ROOT / "models" / "lines.json").read_text())
    assert card["classes"] == list(lines.CLASSES) and card["stride"] == lines.STRIDE
    model = build_reader(len(card["classes"]), card["width"])
    model.set_state_dict(
        {name: paddle.to_tensor(value) for name, value in read_state(ROOT / "models" / "lines.pdparams").items()}
    )
    model.eval()
    line = np.random.default_rng(0).integers(0, 256, (LINE_HEIGHT, 90), dtype=np.uint8)
    expected = model(paddle.to_tensor(lines.normalize(line[None, None]))).numpy()[0].T  # [T, classes + 1]
    np.testing.assert_allclose(shipped_reader.logits(line), expected, atol=1e-4, rtol=1e-4)


def test_train_lines_trains_saves_exports_and_never_overwrites(tmp_path, capsys):
    pytest.importorskip(
        "paddle2onnx", reason="the export tools are not installed: pip install -r requirements-export.txt"
    )
    from handwriting import train_lines

    rng = np.random.default_rng(2)
    digits = rng.integers(0, 256, (8, 28, 28), dtype=np.uint8)
    for split, count in (("train", 64), ("test", 16)):
        made, texts = examples(digits, np.arange(8), count, rng)
        (tmp_path / f"lines_{split}.npz").write_bytes(packed(made, texts))
    out = tmp_path / "out"
    assert train_lines.main([str(tmp_path), "--epochs", "1", "--out", str(out)]) == 0
    assert sorted(path.name for path in out.iterdir()) == [
        "lines.json",
        "lines.log.jsonl",
        "lines.onnx",
        "lines.pdparams",
    ]
    reader = lines.LineReader(out / "lines.onnx")
    assert reader.logits(np.zeros((LINE_HEIGHT, 40), np.uint8)).shape == (10, 11)  # any width: 40 px, 10 columns
    before = (out / "lines.onnx").read_bytes()
    with pytest.raises(SystemExit, match="exists"):
        train_lines.main([str(tmp_path), "--epochs", "1", "--out", str(out)])
    assert (out / "lines.onnx").read_bytes() == before
    np.savez(tmp_path / "lines_test.npz", pixels=np.zeros(5, np.uint8), widths=np.array([3]), labels=np.array(["1"]))
    with pytest.raises(SystemExit, match="not a file of lines"):
        train_lines.main([str(tmp_path), "--epochs", "1", "--out", str(tmp_path / "other")])
    assert not (tmp_path / "other").exists()


@pytest.mark.parametrize("angle", [-8, 8])
def test_a_row_photographed_at_an_angle_is_levelled_for_the_line_reader(angle, tmp_path):
    """Scaled to its whole height as it stands, a row at 8 degrees would shrink its digits to half."""
    import cv2

    from handwriting.backends import make_backend
    from synthetic.rows import as_picture, pen_digits, write_row

    rng = np.random.default_rng(7)
    row = write_row(pen_digits("4096713", rng), rng, touching=0.0, broken=0.0)
    height, width = row.ink.shape
    turn = cv2.getRotationMatrix2D((width / 2, height / 2), angle, 1.0)
    turn[1, 2] += width * 0.1
    ink = cv2.warpAffine(row.ink, turn, (width, height + int(width * 0.2)))
    cv2.imwrite(str(tmp_path / "row.png"), as_picture(ink, "drawing", rng))
    [result] = recognise([str(tmp_path / "row.png")], make_backend("auto"))
    assert result.label == "4096713"
