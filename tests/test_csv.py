"""CSV files as a dataset (csv:DIR/NAME) and `python -m handwriting.data export --csv`, on synthetic data
registered under MNIST's name, so that the IDX files and their CSV export can be compared exactly."""

from __future__ import annotations

import hashlib
import json
import string
from pathlib import Path

import numpy as np
import pytest

import train as train_script
from handwriting import evaluate as evaluate_module
from handwriting.data import __main__ as data_cli
from handwriting.data import csvfiles, get_spec, load, registry
from handwriting.errors import DataError, UserError
from handwriting.weights import read_state
from tests.conftest import Synthetic, make_synthetic, synthetic_dataset


@pytest.fixture
def mnist_like(monkeypatch, isolated_data_root) -> Synthetic:
    """Synthetic digits (30 + 12) registered as "mnist" and put into the data folder, so that
    `export mnist` and `--dataset mnist` use them without fetching anything."""
    made = make_synthetic(name="mnist")
    monkeypatch.setitem(registry.DATASETS, "mnist", made.spec)
    made.write(isolated_data_root / "mnist")
    return made


@pytest.fixture
def letters_like(monkeypatch, isolated_data_root) -> Synthetic:
    """A dataset in EMNIST letters' layout: labels 1..26 in the files, images stored column by column."""
    rng = np.random.default_rng(1)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (40, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": (np.arange(40) % 26 + 1).astype(np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (13, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": (np.arange(13) * 2 % 26 + 1).astype(np.uint8),
    }
    classes = tuple(f"{letter}/{letter.upper()}" for letter in string.ascii_lowercase)
    made = synthetic_dataset(
        "synth-letters", "synthetic letters", classes, arrays, framing="emnist", transposed=True, first_label=1
    )
    spec = made.spec
    monkeypatch.setitem(registry.DATASETS, spec.name, spec)  # removed again after the test
    made.write(isolated_data_root / spec.name)
    return made


def export(dataset: str, folder: Path, *flags: str) -> int:
    return data_cli.main(["export", dataset, "--csv", str(folder), *flags])


def assert_same_arrays(loaded, expected) -> None:
    for split in ("train", "test"):
        got, want = loaded.splits[split], expected.splits[split]
        assert got.images.dtype == want.images.dtype == np.uint8 and got.labels.dtype == want.labels.dtype
        np.testing.assert_array_equal(got.images, want.images)
        np.testing.assert_array_equal(got.labels, want.labels)


def lines_of(path: Path) -> list[str]:
    return path.read_text().split("\n")


def write_lines(path: Path, lines: list[str]) -> None:
    path.write_bytes("\n".join(lines).encode("ascii"))


# ----------------------------------------------------------------------------- export and read back


def test_export_writes_the_articles_files_and_reading_them_gives_the_same_arrays(mnist_like, tmp_path, capsys):
    folder = tmp_path / "new" / "csv"  # created by export
    assert export("mnist", folder) == 0
    out, err = capsys.readouterr()
    train_csv, test_csv = folder / "mnist_train.csv", folder / "mnist_test.csv"
    assert out.splitlines() == [
        f"mnist: wrote 30 rows to {train_csv}",
        f"mnist: wrote 12 rows to {test_csv}",
        f"train on them: python train.py --dataset csv:{folder / 'mnist'}",
    ]
    assert f"writing 30 rows to {train_csv}" in err

    # The article's layout: no header, "label,p0,...,p783", "\n" line ends, pixels row by row.
    raw = train_csv.read_bytes()
    assert b"\r" not in raw and raw.endswith(b"\n") and raw.count(b"\n") == 30
    images, labels = mnist_like.arrays["train-images-idx3-ubyte"], mnist_like.arrays["train-labels-idx1-ubyte"]
    first = ",".join(str(value) for value in [labels[0], *images[0].reshape(-1)])
    assert raw.split(b"\n")[0].decode() == first
    assert not list(folder.glob(".*"))  # no temporary files left behind

    from_csv = load(get_spec(f"csv:{folder}/mnist"))
    assert_same_arrays(from_csv, load(get_spec("mnist")))
    assert from_csv.spec.classes == mnist_like.spec.classes and from_csv.spec.framing == "mnist"
    assert from_csv.checksums == {
        "mnist_train.csv": hashlib.sha256(raw).hexdigest(),
        "mnist_test.csv": hashlib.sha256(test_csv.read_bytes()).hexdigest(),
    }
    assert from_csv.paths == {"mnist_train.csv": train_csv, "mnist_test.csv": test_csv}


def test_csv_name_and_prefix_are_made_absolute(mnist_like, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    spec = get_spec("csv:some/where/mnist")
    assert spec.name == f"csv:{tmp_path}/some/where/mnist" and spec.csv_prefix == str(tmp_path / "some/where/mnist")
    assert spec.title == "CSV files some/where/mnist_*.csv (as mnist)" and spec.sources == ()
    assert get_spec("csv:~/x/mnist").csv_prefix == str(Path("~/x/mnist").expanduser())


def test_a_dataset_stored_column_by_column_with_1_based_labels_round_trips(letters_like, tmp_path):
    assert export("synth-letters", tmp_path) == 0
    # The file holds what the official files hold: labels 1..26 and the pixels column by column.
    first = lines_of(tmp_path / "synth-letters_train.csv")[0].split(",")
    stored = letters_like.arrays["train-images-idx3-ubyte"][0]  # as in the IDX file: transposed
    assert int(first[0]) == letters_like.arrays["train-labels-idx1-ubyte"][0] == 1
    assert [int(value) for value in first[1:]] == stored.reshape(-1).tolist()

    spec = get_spec(f"csv:{tmp_path}/synth-letters")
    assert (spec.transposed, spec.first_label, spec.framing) == (True, 1, "emnist")
    from_idx = load(get_spec("synth-letters"))
    assert from_idx.splits["train"].labels.min() == 0  # class indices, as the IDX loader gives them
    assert_same_arrays(load(spec), from_idx)


def test_a_header_line_crlf_and_a_byte_order_mark_are_accepted(mnist_like, tmp_path):
    assert export("mnist", tmp_path) == 0
    path = tmp_path / "mnist_train.csv"
    header = "label," + ",".join(f"{row}x{column}" for row in range(1, 29) for column in range(1, 29))
    path.write_bytes(b"\xef\xbb\xbf" + "\r\n".join([header, *lines_of(path)]).encode("ascii"))
    assert_same_arrays(load(get_spec(f"csv:{tmp_path}/mnist")), load(get_spec("mnist")))


def test_unknown_name_numbers_its_classes_from_0_to_the_largest_label(tmp_path):
    pixels = ",".join(["0"] * 784)
    for split, labels in (("train", [0, 11, 3]), ("test", [2])):
        write_lines(tmp_path / f"scans_{split}.csv", [f"{label},{pixels}" for label in labels])
    spec = get_spec(f"csv:{tmp_path}/scans")
    assert spec.classes == tuple(str(label) for label in range(12))
    assert (spec.first_label, spec.transposed, spec.framing) == (0, False, "mnist")
    assert load(spec).splits["train"].labels.tolist() == [0, 11, 3]
    write_lines(tmp_path / "scans_train.csv", [f"4,{pixels}"])  # fewer than ten: still the ten digits
    assert get_spec(f"csv:{tmp_path}/scans").classes == tuple(string.digits)


def test_a_classes_file_names_the_classes(tmp_path):
    pixels = ",".join(["0"] * 784)
    for split, labels in (("train", [0, 1, 1]), ("test", [1])):
        write_lines(tmp_path / f"marks_{split}.csv", [f"{label},{pixels}" for label in labels])
    (tmp_path / "marks_classes.txt").write_text("one\ntwo touching\n\n")
    assert get_spec(f"csv:{tmp_path}/marks").classes == ("one", "two touching")
    (tmp_path / "marks_classes.txt").write_text("one\n")  # label 1 left unnamed
    with pytest.raises(
        DataError, match=r"marks_classes.txt: names 1 class, but the labels go up to 1; name each class"
    ):
        get_spec(f"csv:{tmp_path}/marks")
    (tmp_path / "marks_classes.txt").write_text("one\none\n")
    with pytest.raises(DataError, match=r"marks_classes.txt: names 'one' twice; name each class once"):
        get_spec(f"csv:{tmp_path}/marks")


# ----------------------------------------------------------------------------- mistakes, one line each


def pixel_row(label: str, pixels: list[str]) -> str:
    return ",".join([label, *pixels])


ZEROS = ["0"] * 784


@pytest.mark.parametrize(
    "bad_line, problem",
    [
        (pixel_row("3", ZEROS[:-1]), "784 fields, expected 785 (a label and 28x28 pixels)"),
        (pixel_row("3", [*ZEROS, "0"]), "786 fields, expected 785 (a label and 28x28 pixels)"),
        ("", "1 field, expected 785 (a label and 28x28 pixels)"),
        (pixel_row("3", ["0"] * 5 + ["x"] + ["0"] * 778), "pixel 5 is 'x', not a whole number"),
        (pixel_row("3", ["0"] * 5 + ["1.5"] + ["0"] * 778), "pixel 5 is '1.5', not a whole number"),
        (pixel_row("3", ["0"] * 5 + [""] + ["0"] * 778), "pixel 5 is '', not a whole number"),
        (pixel_row("three", ZEROS), "the label is 'three', not a whole number"),
        (pixel_row("3", ["0"] * 783 + ["256"]), "pixel 783 is 256, outside 0..255"),
        (pixel_row("3", ["-1"] + ["0"] * 783), "pixel 0 is -1, outside 0..255"),
        (pixel_row("10", ZEROS), "label 10 is outside 0..9, the labels of the 10 classes"),
        (pixel_row("-1", ZEROS), "label -1 is outside 0..9, the labels of the 10 classes"),
    ],
)
@pytest.mark.parametrize("header", [False, True])
def test_each_bad_row_is_one_line_naming_file_and_line(mnist_like, tmp_path, monkeypatch, bad_line, problem, header):
    monkeypatch.setattr(csvfiles, "CHUNK_LINES", 7)  # the bad line lies in the third chunk: line numbers carry over
    assert export("mnist", tmp_path) == 0
    path = tmp_path / "mnist_train.csv"
    lines = lines_of(path)
    lines[16] = bad_line
    write_lines(path, (["label," + ",".join(f"pixel{index}" for index in range(784))] if header else []) + lines)
    with pytest.raises(DataError) as raised:
        load(get_spec(f"csv:{tmp_path}/mnist"))
    assert str(raised.value) == f"{path} line {18 if header else 17}: {problem}"


@pytest.mark.parametrize(
    "text, problem",
    [
        ("", "the file is empty; expected one image a line: label,p0,...,p783"),
        ("\n\n", "the file is empty; expected one image a line: label,p0,...,p783"),
        ("label,1x1,1x2\n", "holds a header line but no images; expected one image a line: label,p0,...,p783"),
    ],
)
def test_an_empty_file_is_refused(mnist_like, tmp_path, text, problem):
    assert export("mnist", tmp_path) == 0
    (tmp_path / "mnist_test.csv").write_text(text)
    with pytest.raises(DataError) as raised:
        load(get_spec(f"csv:{tmp_path}/mnist"))
    assert str(raised.value) == f"{tmp_path / 'mnist_test.csv'}: {problem}"


def test_a_missing_file_says_how_to_make_it(mnist_like, tmp_path, capsys):
    assert export("mnist", tmp_path) == 0
    (tmp_path / "mnist_test.csv").unlink()
    with pytest.raises(DataError) as raised:
        load(get_spec(f"csv:{tmp_path}/mnist"))
    assert str(raised.value) == (
        f"{tmp_path / 'mnist_test.csv'}: no such file; `python -m handwriting.data export mnist --csv {tmp_path}` "
        "writes it"
    )
    # A name that is no dataset: the hint says how CSV files are named and how to get MNIST's.
    with pytest.raises(DataError, match=r"scans_train.csv: no such file; csv:DIR/NAME reads DIR/NAME_train.csv"):
        get_spec(f"csv:{tmp_path}/scans")


@pytest.mark.parametrize(
    "name, problem",
    [
        ("csv:", "'csv:' names no files: give csv:DIR/NAME for DIR/NAME_train.csv and DIR/NAME_test.csv"),
        ("csv:data/", "'csv:data/' names no files: give csv:DIR/NAME for DIR/NAME_train.csv and DIR/NAME_test.csv"),
        ("csv:d/mnist_train.csv", "'csv:d/mnist_train.csv' names a file; give the prefix, csv:d/mnist, for "
         "d/mnist_train.csv and _test.csv"),
    ],
)  # fmt: skip
def test_a_csv_name_without_a_prefix_is_refused(name, problem, capsys):
    with pytest.raises(UserError) as raised:
        get_spec(name)
    assert str(raised.value) == problem
    with pytest.raises(SystemExit):  # train.py refuses it while parsing its flags, with the same words
        train_script.build_parser().parse_args(["--dataset", name])
    assert capsys.readouterr().err.endswith(f"error: argument --dataset: {problem}\n")


def test_export_refuses_to_overwrite_unless_told(mnist_like, tmp_path, capsys):
    assert export("mnist", tmp_path) == 0
    (tmp_path / "mnist_test.csv").write_text("kept\n")
    before = (tmp_path / "mnist_train.csv").read_bytes()
    capsys.readouterr()
    assert export("mnist", tmp_path) == 2
    assert capsys.readouterr() == (
        "",
        f"error: {tmp_path / 'mnist_train.csv'} and {tmp_path / 'mnist_test.csv'} already exist; "
        "add --overwrite to replace, or choose another --csv\n",
    )
    assert (tmp_path / "mnist_test.csv").read_text() == "kept\n"
    assert export("mnist", tmp_path, "--overwrite") == 0
    assert (tmp_path / "mnist_train.csv").read_bytes() == before
    assert load(get_spec(f"csv:{tmp_path}/mnist")).splits["test"].labels.size == 12


# ----------------------------------------------------------------------------- train.py on CSV files


def test_train_py_accepts_csv_names_and_refuses_unknown_ones(capsys):
    parse = train_script.build_parser().parse_args
    assert parse(["--dataset", "csv:data/mnist"]).dataset == "csv:data/mnist"
    assert parse(["--dataset", "fashion-mnist"]).dataset == "fashion-mnist"
    with pytest.raises(SystemExit) as exit_info:
        parse(["--dataset", "mnits"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.endswith(
        f"error: argument --dataset: unknown dataset 'mnits'; choose one of {', '.join(sorted(registry.DATASETS))}, "
        "or csv:DIR/NAME for DIR/NAME_train.csv and _test.csv\n"
    )


def test_training_on_the_csv_export_equals_training_on_the_idx_files(mnist_like, tmp_path, capsys):
    """The acceptance: `export mnist --csv DIR`, then training from csv:DIR/mnist gives the same
    run as training from the IDX files; evaluate scores the CSV-trained checkpoint from its files."""
    assert export("mnist", tmp_path / "csv") == 0
    flags = ["--model", "softmax", "--epochs", "1", "--max-steps", "2", "--out", str(tmp_path / "runs")]
    assert train_script.main([*flags, "--dataset", "mnist", "--name", "idx"]) == 0
    assert train_script.main([*flags, "--dataset", f"csv:{tmp_path}/csv/mnist", "--name", "csv"]) == 0
    capsys.readouterr()

    cards = {name: json.loads((tmp_path / "runs" / f"{name}.json").read_text()) for name in ("idx", "csv")}
    assert cards["csv"]["test_accuracy"] == cards["idx"]["test_accuracy"]
    assert cards["csv"]["epochs"][0]["train_loss"] == cards["idx"]["epochs"][0]["train_loss"]
    assert cards["csv"]["classes"] == cards["idx"]["classes"] and cards["csv"]["framing"] == "mnist"
    assert cards["csv"]["dataset"]["name"] == f"csv:{tmp_path}/csv/mnist"
    assert set(cards["csv"]["dataset"]["sha256"]) == {"mnist_train.csv", "mnist_test.csv"}
    weights = {name: read_state(tmp_path / "runs" / f"{name}.pdparams") for name in ("idx", "csv")}
    assert weights["csv"].keys() == weights["idx"].keys()
    for key in weights["idx"]:
        np.testing.assert_array_equal(weights["csv"][key], weights["idx"][key])

    checkpoint = str(tmp_path / "runs" / "csv.pdparams")
    assert evaluate_module.main([checkpoint, "--json", "--out-dir", str(tmp_path / "report")]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["dataset"] == f"csv:{tmp_path}/csv/mnist" and report["accuracy"] == cards["csv"]["test_accuracy"]
    # Changed files are not the ones it was trained on, and evaluate says so.
    (tmp_path / "csv" / "mnist_test.csv").write_bytes((tmp_path / "csv" / "mnist_test.csv").read_bytes() + b"\n")
    assert evaluate_module.main([checkpoint]) == 2
    assert "was trained on different" in capsys.readouterr().err


def test_a_first_line_with_a_bad_label_is_an_error_not_a_header(mnist_like, tmp_path):
    """Only words where the numbers go make a header; a data line whose label is broken is named."""
    assert export("mnist", tmp_path) == 0
    train_csv = tmp_path / "mnist_train.csv"
    lines = train_csv.read_text().splitlines()
    train_csv.write_text("\n".join(["x" + lines[0][1:], *lines[1:]]) + "\n")
    with pytest.raises(DataError, match=r"mnist_train.csv line 1: the label is 'x\S*', not a whole number"):
        load(get_spec(f"csv:{tmp_path}/mnist"))


def test_a_tab_separated_file_is_one_short_line(mnist_like, tmp_path):
    assert export("mnist", tmp_path) == 0
    train_csv = tmp_path / "mnist_train.csv"
    train_csv.write_text(train_csv.read_text().replace(",", "\t"))
    with pytest.raises(DataError) as raised:
        load(get_spec(f"csv:{tmp_path}/mnist"))
    assert len(str(raised.value)) < 200
