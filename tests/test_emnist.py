"""EMNIST on synthetic files in the exact official layout (no EMNIST copy is reachable offline).

The archive is ``synthetic.emnist``'s: NIST's ``gzip.zip`` layout, transposed glyphs, the official
mapping files, 1-based letters labels. Most tests shrink the splits' counts (a replaced spec); the
end-to-end test uses the letters split at its official size.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import http.server
import io
import re
import threading
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest

import infer as infer_script
import train as train_script
from handwriting import evaluate as evaluate_module
from handwriting.data import __main__ as data_cli
from handwriting.data import get_spec, load, registry
from handwriting.data.registry import EMNIST_SPLITS, Split, classes_from_mapping
from handwriting.data.sources import ZipArchive
from handwriting.data.store import RECORDED_SUMS, ensure
from handwriting.errors import DataError
from synthetic.emnist import MAPPINGS, archive_bytes, mapping_text

SMALL = {"letters": (104, 52), "balanced": (94, 47)}


class ArchiveServer:
    """A local HTTP server for one archive, with HEAD and Range support; ``cut_after`` makes the
    next GET stop after that many bytes (a dropped connection), once."""

    def __init__(self, data: bytes):
        self.data = data
        self.cut_after: int | None = None
        self.ignore_range = False  # answer every GET with the whole archive, as some servers do
        self.chunked = False  # no Content-Length: the body in chunks (a cut then breaks a chunk)
        self.ranges: list[str | None] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_HEAD(self):
                self.send_response(200)
                self.send_header("Content-Length", str(len(server.data)))
                self.end_headers()

            def do_GET(self):
                asked = self.headers.get("Range")
                server.ranges.append(asked)
                if server.ignore_range:
                    asked = None
                start = int(re.fullmatch(r"bytes=(\d+)-", asked).group(1)) if asked else 0
                body = server.data[start:]
                self.send_response(206 if asked else 200)
                if asked:
                    self.send_header("Content-Range", f"bytes {start}-{len(server.data) - 1}/{len(server.data)}")
                if server.chunked:
                    self.send_header("Transfer-Encoding", "chunked")
                else:
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                cut, server.cut_after = server.cut_after, None
                if server.chunked:
                    sent = body[:cut] if cut is not None else body
                    for offset in range(0, len(sent), 8192):
                        piece = sent[offset : offset + 8192]
                        self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
                    if cut is None:
                        self.wfile.write(b"0\r\n\r\n")
                    else:  # a chunk announced and only begun: the connection drops mid-chunk
                        self.wfile.write(b"2000\r\n" + body[cut : cut + 3])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                if cut is not None:
                    self.wfile.write(body[:cut])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(body)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/gzip.zip"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def emnist_like(monkeypatch, data: bytes, url: str, counts: dict[str, tuple[int, int]]) -> None:
    """Register each split of ``counts`` with those counts, served from ``url`` with ``data``'s MD5."""
    source = ZipArchive(
        url=url, md5=hashlib.md5(data).hexdigest(), size=len(data), archive="gzip.zip", folder="gzip", read_seconds=5
    )
    for split, (train_count, test_count) in counts.items():
        spec = get_spec(f"emnist-{split}")
        resized = {}
        for part, count in (("train", train_count), ("test", test_count)):
            files = spec.splits[part]
            resized[part] = Split(
                dataclasses.replace(files.images, shape=(count, 28, 28)),
                dataclasses.replace(files.labels, shape=(count,)),
            )
        monkeypatch.setitem(registry.DATASETS, spec.name, dataclasses.replace(spec, splits=resized, sources=(source,)))


@pytest.fixture(scope="module")
def small_archive():
    return archive_bytes(SMALL)


@pytest.fixture
def served(small_archive, monkeypatch):
    data, made = small_archive
    server = ArchiveServer(data)
    emnist_like(monkeypatch, data, server.url, SMALL)
    yield server, made
    server.close()


def quiet(message: str) -> None:
    pass


# ----------------------------------------------------------------------------- the facts


def test_the_registry_holds_the_six_splits_with_their_official_counts_and_classes():
    sizes = {
        split: (get_spec(f"emnist-{split}").num_classes, facts.train, facts.test)
        for split, facts in EMNIST_SPLITS.items()
    }
    assert sizes == {
        "byclass": (62, 697_932, 116_323),
        "bymerge": (47, 697_932, 116_323),
        "balanced": (47, 112_800, 18_800),
        "letters": (26, 124_800, 20_800),
        "digits": (10, 240_000, 40_000),
        "mnist": (10, 60_000, 10_000),
    }
    for split in EMNIST_SPLITS:
        spec = get_spec(f"emnist-{split}")
        assert spec.splits["train"].images.shape == (sizes[split][1], 28, 28)
        assert spec.splits["test"].labels.shape == (sizes[split][2],)
        assert (spec.framing, spec.folder, spec.transposed) == ("emnist", "emnist", True)


@pytest.mark.parametrize("split", list(MAPPINGS))
def test_class_names_come_from_the_official_mapping(split):
    classes, first = classes_from_mapping(mapping_text(split))
    assert (classes, first) == (get_spec(f"emnist-{split}").classes, get_spec(f"emnist-{split}").first_label)


def test_merged_classes_are_named_with_both_cases():
    bymerge = get_spec("emnist-bymerge").classes
    assert "c/C" in bymerge and "o/O" in bymerge and "C" not in bymerge and "c" not in bymerge
    assert "A" in bymerge and "a" in bymerge  # a and A look different: two classes
    assert get_spec("emnist-letters").classes[:3] == ("a/A", "b/B", "c/C")
    byclass = get_spec("emnist-byclass").classes
    assert byclass[10] == "A" and byclass[36] == "a" and len(set(byclass)) == 62


def test_a_bad_mapping_line_is_named():
    with pytest.raises(ValueError, match="line 2"):
        classes_from_mapping("0 48\n1 x\n")


# ----------------------------------------------------------------------------- fetching


def test_fetch_downloads_extracts_only_the_asked_split_and_loads_glyphs_upright(served, isolated_data_root):
    server, made = served
    verified, fetched = ensure(get_spec("emnist-letters"), log=quiet)
    folder = isolated_data_root / "emnist"
    assert sorted(path.name for path in folder.iterdir() if not path.name.startswith(".")) == [
        "emnist-letters-mapping.txt",
        "emnist-letters-test-images-idx3-ubyte",
        "emnist-letters-test-labels-idx1-ubyte",
        "emnist-letters-train-images-idx3-ubyte",
        "emnist-letters-train-labels-idx1-ubyte",
        "gzip.zip",  # kept: the next split is read out of it without downloading again
        RECORDED_SUMS,
    ]
    data = load(get_spec("emnist-letters"), download=False)
    images, labels = made[("letters", "train")]
    assert np.array_equal(data.splits["train"].images, images)  # upright, as drawn
    assert not np.array_equal(images, images.transpose(0, 2, 1))  # the glyphs are not symmetric
    assert np.array_equal(data.splits["train"].labels, labels.astype(np.int64) - 1)  # 1..26 -> 0..25
    recorded = (folder / RECORDED_SUMS).read_text()
    assert data.checksums["emnist-letters-train-images-idx3-ubyte"] in recorded

    ensure(get_spec("emnist-balanced"), log=quiet)  # from the kept archive
    assert server.ranges == [None]  # one download for both splits


def test_a_recorded_file_that_changes_is_refused(served, isolated_data_root):
    ensure(get_spec("emnist-letters"), log=quiet)
    path = isolated_data_root / "emnist" / "emnist-letters-test-labels-idx1-ubyte"
    data = bytearray(path.read_bytes())
    data[-1] ^= 1
    path.write_bytes(bytes(data))
    with pytest.raises(DataError, match="is not the one recorded in sha256sums.txt"):
        load(get_spec("emnist-letters"), download=False)


def test_an_interrupted_download_resumes_where_it_stopped(served, isolated_data_root):
    server, _ = served
    server.cut_after = 40_000
    with pytest.raises(DataError, match="run again to resume"):
        ensure(get_spec("emnist-letters"), log=quiet)
    partial = isolated_data_root / "emnist" / "gzip.zip.part"
    assert partial.stat().st_size == 40_000
    ensure(get_spec("emnist-letters"), log=quiet)
    assert server.ranges == [None, "bytes=40000-"]
    assert not partial.exists()
    assert load(get_spec("emnist-letters"), download=False).splits["test"].labels.shape == (52,)


def test_a_download_cut_in_a_chunk_is_one_line_and_resumes(served, isolated_data_root):
    server, _ = served
    server.chunked, server.cut_after = True, 40_000
    with pytest.raises(DataError, match="run again to resume"):
        ensure(get_spec("emnist-letters"), log=quiet)
    assert (isolated_data_root / "emnist" / "gzip.zip.part").stat().st_size == 40_000  # what arrived whole
    ensure(get_spec("emnist-letters"), log=quiet)
    assert server.ranges == [None, "bytes=40000-"]


def test_a_server_that_ignores_the_range_is_downloaded_from_the_start(served, isolated_data_root):
    server, made = served
    server.cut_after = 40_000
    with pytest.raises(DataError):
        ensure(get_spec("emnist-letters"), log=quiet)
    server.ignore_range = True  # answers 200 with the whole archive: appended, it would be garbage
    ensure(get_spec("emnist-letters"), log=quiet)
    assert server.ranges == [None, "bytes=40000-"]
    loaded = load(get_spec("emnist-letters"), download=False)
    assert np.array_equal(loaded.splits["train"].images, made[("letters", "train")][0])


def test_a_downloaded_archive_with_the_wrong_md5_is_deleted(small_archive, monkeypatch, isolated_data_root):
    data, _ = small_archive
    server = ArchiveServer(data[:-10] + b"0123456789")  # whole, but not the archive
    try:
        emnist_like(monkeypatch, data, server.url, SMALL)
        with pytest.raises(DataError, match="the downloaded archive's MD5 is .* deleted it, run again"):
            ensure(get_spec("emnist-letters"), log=quiet)
        assert list((isolated_data_root / "emnist").glob("gzip.zip*")) == []
    finally:
        server.close()


def test_the_archive_is_the_authority_over_files_put_there_by_hand(small_archive, monkeypatch, isolated_data_root):
    """A damaged .gz put there by hand: with the archive beside it, the archive's file replaces it;
    adopted when alone, its recorded SHA-256 gives way once the archive is there."""
    data, made = small_archive
    emnist_like(monkeypatch, data, "http://127.0.0.1:9/unreachable.zip", SMALL)
    folder = put_by_hand(data, isolated_data_root / "emnist", "letters")
    images = folder / "emnist-letters-test-images-idx3-ubyte.gz"
    raw = bytearray(gzip.decompress(images.read_bytes()))
    raw[-1] ^= 0xFF  # one pixel changed: the structure is still right
    images.write_bytes(gzip.compress(bytes(raw)))
    load(get_spec("emnist-letters"), log=quiet)  # alone, it is adopted (nothing can tell it is damaged)

    (folder / "gzip.zip").write_bytes(data)  # the archive arrives
    images.unlink()
    loaded = load(get_spec("emnist-letters"), log=quiet)
    assert np.array_equal(loaded.splits["test"].images, made[("letters", "test")][0])
    assert loaded.checksums["emnist-letters-test-images-idx3-ubyte"] in (folder / RECORDED_SUMS).read_text()


def put_by_hand(archive_data: bytes, folder: Path, split: str) -> Path:
    """Copy a split's .gz files and mapping out of the archive into ``folder``, as a person would."""
    folder.mkdir(parents=True)
    with zipfile.ZipFile(io.BytesIO(archive_data)) as archive:
        for member in archive.namelist():
            if f"-{split}-" in member:
                (folder / Path(member).name).write_bytes(archive.read(member))
    return folder


def test_files_put_there_by_hand_are_checked_and_recorded(small_archive, monkeypatch, isolated_data_root):
    data, made = small_archive
    emnist_like(monkeypatch, data, "http://127.0.0.1:9/unreachable.zip", SMALL)
    folder = put_by_hand(data, isolated_data_root / "emnist", "letters")  # the .gz files and the mapping
    loaded = load(get_spec("emnist-letters"), log=quiet)
    assert np.array_equal(loaded.splits["test"].images, made[("letters", "test")][0])
    assert len((folder / RECORDED_SUMS).read_text().splitlines()) == 4


def test_a_corrupt_archive_is_one_line(small_archive, monkeypatch, isolated_data_root, capsys):
    data, _ = small_archive
    emnist_like(monkeypatch, data, "http://127.0.0.1:9/unreachable.zip", SMALL)
    folder = isolated_data_root / "emnist"
    folder.mkdir(parents=True)
    (folder / "gzip.zip").write_bytes(data[: len(data) // 2])
    assert data_cli.main(["fetch", "emnist-letters"]) == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert "is not the published archive (MD5" in error and "delete it" in error


def test_offline_says_what_was_tried_and_which_files_to_put_where(small_archive, monkeypatch, isolated_data_root):
    data, _ = small_archive
    emnist_like(monkeypatch, data, "http://127.0.0.1:9/gzip.zip", SMALL)
    with pytest.raises(DataError) as raised:
        ensure(get_spec("emnist-letters"), log=quiet)
    message = str(raised.value)
    assert "\n" not in message
    assert "127.0.0.1" in message  # what was tried
    assert f"Put the archive gzip.zip from http://127.0.0.1:9/gzip.zip (MD5 {hashlib.md5(data).hexdigest()})" in message
    assert "emnist-letters-train-images-idx3-ubyte" in message and str(isolated_data_root / "emnist") in message


def test_a_mapping_that_disagrees_with_the_classes_is_refused(served, isolated_data_root):
    ensure(get_spec("emnist-letters"), log=quiet)
    mapping = isolated_data_root / "emnist" / "emnist-letters-mapping.txt"
    mapping.write_text(mapping_text("letters").replace("1 65 97", "1 66 98"))
    with pytest.raises(DataError, match="are not emnist-letters's"):
        load(get_spec("emnist-letters"), download=False)


# ----------------------------------------------------------------------------- end to end


def letter_picture(path: Path, letter: str) -> None:
    """A user's picture: ``letter`` in dark ink on light paper, large, off-centre."""
    canvas = np.full((300, 400), 235, dtype=np.uint8)
    cv2.putText(canvas, letter, (140, 230), cv2.FONT_HERSHEY_SIMPLEX, 6, 30, 22, cv2.LINE_AA)
    cv2.imwrite(str(path), canvas)


def test_fetch_info_train_evaluate_infer_on_the_official_letters_split(monkeypatch, tmp_path, capsys):
    """The acceptance: the letters split at its official size (124,800 + 20,800), fetched from a
    local URL, described, trained for one short epoch, scored, and read from a user's picture."""
    official = (EMNIST_SPLITS["letters"].train, EMNIST_SPLITS["letters"].test)
    data, _ = archive_bytes({"letters": official})
    server = ArchiveServer(data)
    try:
        emnist_like(monkeypatch, data, server.url, {"letters": official})
        assert data_cli.main(["fetch", "emnist-letters"]) == 0
        assert "fetched 5 file(s); all 5 verified" in capsys.readouterr().out  # 4 IDX + the mapping

        assert data_cli.main(["info", "emnist-letters"]) == 0
        info = capsys.readouterr().out
        assert "26 classes" in info and "train: 124,800 images" in info and "test: 20,800 images" in info
        assert "a/A:4800" in info and "z/Z:800" in info

        out = tmp_path / "runs"
        flags = ["--dataset", "emnist-letters", "--model", "softmax", "--epochs", "1", "--max-steps", "60"]
        assert train_script.main([*flags, "--lr", "0.01", "--out", str(out), "--name", "letters"]) == 0
        capsys.readouterr()

        assert evaluate_module.main([str(out / "letters.pdparams"), "--json", "--out-dir", str(tmp_path)]) == 0
        assert '"dataset": "emnist-letters"' in capsys.readouterr().out

        pictures = []
        for letter in "KRE":
            pictures.append(tmp_path / f"{letter}.png")
            letter_picture(pictures[-1], letter)
        assert infer_script.main([*map(str, pictures), "--model", str(out / "letters.pdparams")]) == 0
        read = [line.split(" (")[0] for line in capsys.readouterr().out.splitlines()]
        assert read == [f"{tmp_path / letter}.png: {letter.lower()}/{letter}" for letter in "KRE"]
    finally:
        server.close()
