import gzip

import numpy as np
import pytest

from handwriting.data.idx import IdxError, parse_idx, read_idx, write_idx
from handwriting.errors import DataError
from tests.conftest import idx_bytes

IMAGES = np.arange(3 * 28 * 28, dtype=np.int64).reshape(3, 28, 28).astype(np.uint8)


def test_reads_raw_images_as_uint8(tmp_path):
    path = tmp_path / "images-idx3-ubyte"
    path.write_bytes(idx_bytes(IMAGES))
    array = read_idx(path, ndim=3)
    assert array.dtype == np.uint8
    assert array.shape == (3, 28, 28)
    np.testing.assert_array_equal(array, IMAGES)


def test_reads_gzipped_file_by_its_magic_bytes(tmp_path):
    path = tmp_path / "images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(idx_bytes(IMAGES)))
    np.testing.assert_array_equal(read_idx(path), IMAGES)


def test_labels_are_one_dimensional(tmp_path):
    path = tmp_path / "labels"
    path.write_bytes(idx_bytes(np.array([5, 0, 4, 1], dtype=np.uint8)))
    np.testing.assert_array_equal(read_idx(path, ndim=1), [5, 0, 4, 1])


def test_wider_types_are_converted_from_big_endian(tmp_path):
    values = np.array([[1.5, -2.0], [3.25, 1e6]], dtype=np.float32)
    write_idx(tmp_path / "floats", values)
    array = read_idx(tmp_path / "floats")
    assert array.dtype == np.float32 and array.dtype.isnative
    np.testing.assert_array_equal(array, values)


def test_write_idx_round_trips_compressed(tmp_path):
    write_idx(tmp_path / "x.gz", IMAGES, compress=True)
    np.testing.assert_array_equal(read_idx(tmp_path / "x.gz"), IMAGES)


def test_truncated_body_names_file_and_sizes():
    data = idx_bytes(IMAGES)[:-10]
    with pytest.raises(
        IdxError, match=r"train-images: truncated: 2,358 bytes, but its header \[3, 28, 28\] needs 2,368"
    ):
        parse_idx(data, source="train-images")


def test_trailing_bytes_are_rejected():
    with pytest.raises(IdxError, match="trailing bytes"):
        parse_idx(idx_bytes(IMAGES) + b"\0", source="x")


def test_truncated_header_is_rejected():
    with pytest.raises(IdxError, match="truncated inside its header"):
        parse_idx(idx_bytes(IMAGES)[:9], source="x")


@pytest.mark.parametrize("data,size", [(b"", "0 bytes"), (b"\x00", "1 byte"), (b"\x00\x00", "2 bytes")])
def test_empty_or_tiny_file_is_rejected(data, size):
    with pytest.raises(IdxError, match=f"^x: {size} is too short"):
        parse_idx(data, source="x")


@pytest.mark.parametrize("magic", [b"\x00\x00\x07\x03", b"\x01\x00\x08\x03", b"PK\x03\x04"])
def test_wrong_magic_is_rejected(magic):
    data = magic + idx_bytes(IMAGES)[4:]
    with pytest.raises(IdxError, match="not an IDX file"):
        parse_idx(data, source="x")


def test_unexpected_dimension_count_is_rejected():
    with pytest.raises(IdxError, match="has 3 dimensions, expected 1"):
        parse_idx(idx_bytes(IMAGES), ndim=1, source="labels")


def test_broken_gzip_is_a_data_error(tmp_path):
    path = tmp_path / "x.gz"
    path.write_bytes(gzip.compress(idx_bytes(IMAGES))[:100])
    with pytest.raises(IdxError, match="broken gzip"):
        read_idx(path)


def test_missing_file_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        read_idx(tmp_path / "nope")


# ------------------------------------------------------------------ headers found by fuzzing (tests/fuzzing.py)


def test_sizes_whose_product_wraps_round_in_int64_are_a_truncated_file():
    # 0x400000 * 0x200000 * 0x200000 = 2**64, which is 0 in int64: 16 bytes used to "fit" the header.
    data = bytes.fromhex("00000803 00400000 00200000 00200000")
    with pytest.raises(IdxError, match=r"truncated: 16 bytes, but its header \[4194304, 2097152, 2097152\] needs"):
        parse_idx(data)


def test_an_empty_array_whose_other_sizes_overflow_numpy_is_refused():
    data = bytes([0, 0, 0x08, 3]) + (0).to_bytes(4, "big") + (0xFFFFFFFF).to_bytes(4, "big") * 2
    with pytest.raises(IdxError, match="describes no array NumPy can hold"):
        parse_idx(data)


def test_more_dimensions_than_numpy_holds_are_refused():
    data = bytes([0, 0, 0x08, 33]) + (1).to_bytes(4, "big") * 33 + b"\x07"
    with pytest.raises(IdxError, match="33 dimensions"):
        parse_idx(data)


def test_info_and_training_data_refuse_an_overflowing_header_in_one_line(synthetic, isolated_data_root, capsys):
    from handwriting.data import load
    from handwriting.data.__main__ import main

    folder = isolated_data_root / "synth"
    synthetic.write(folder)
    (folder / "train-images-idx3-ubyte").write_bytes(bytes.fromhex("00000803 00400000 00200000 00200000"))
    assert main(["info", "synth"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and len(captured.err.strip().splitlines()) == 1
    assert "train-images-idx3-ubyte: truncated" in captured.err and "fetch synth" in captured.err
    with pytest.raises(DataError, match="truncated"):  # what train.py loads its data with
        load(synthetic.spec, download=False)
