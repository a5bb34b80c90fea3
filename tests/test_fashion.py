"""Fashion-MNIST: its sources (Debian's package, installed or downloaded), the real files where
they are here, and the shipped models/fashion-cnn."""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from handwriting.data import get_spec
from handwriting.data.sources import DebianPackage, InstalledFiles, SourceUnavailable

ROOT = Path(__file__).resolve().parent.parent
FILES = ["train-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]


def log(message: str) -> None:
    pass


def test_the_spec_names_the_classes_and_its_framing():
    spec = get_spec("fashion-mnist")
    assert spec.classes[0] == "T-shirt/top" and spec.classes[9] == "Ankle boot" and spec.num_classes == 10
    assert spec.framing == "fill"
    assert [type(source).__name__ for source in spec.sources] == ["InstalledFiles", "PaddleDownload", "DebianPackage"]


def test_installed_files_are_copied_raw_or_gz(tmp_path):
    folder = tmp_path / "usr-share"
    folder.mkdir()
    (folder / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(b"images"))
    work = tmp_path / "work"
    work.mkdir()
    fetched = InstalledFiles(str(folder), "dataset-fashion-mnist").fetch(FILES, work, log)
    assert list(fetched) == ["train-images-idx3-ubyte"]  # the other one is not there
    assert gzip.decompress(fetched["train-images-idx3-ubyte"].read_bytes()) == b"images"


def test_installed_files_missing_says_which_package_to_install(tmp_path):
    with pytest.raises(SourceUnavailable, match="install the dataset-fashion-mnist package"):
        InstalledFiles(str(tmp_path / "nowhere"), "dataset-fashion-mnist").fetch(FILES, tmp_path, log)


@pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="needs dpkg-deb (Debian or Ubuntu) to build a .deb")
def test_a_debian_package_is_downloaded_and_read_without_installing(tmp_path, monkeypatch):
    """``apt-get download`` is stood in for by a script that drops a .deb we built; the files come
    out of the package's tree without anything being installed."""
    tree = tmp_path / "tree"
    (tree / "DEBIAN").mkdir(parents=True)
    (tree / "DEBIAN" / "control").write_text(
        "Package: dataset-fashion-mnist\nVersion: 1\nArchitecture: all\nMaintainer: t <t@t>\nDescription: t\n"
    )
    data = tree / "usr/share/datasets/fashion-mnist"
    data.mkdir(parents=True)
    (data / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(b"labels"))
    deb = tmp_path / "dataset-fashion-mnist_1_all.deb"
    subprocess.run(["dpkg-deb", "--build", "--root-owner-group", str(tree), str(deb)], check=True, capture_output=True)
    tools = tmp_path / "bin"
    tools.mkdir()
    (tools / "apt-get").write_text(f'#!/bin/sh\n[ "$1" = download ] && cp "{deb}" .\n')
    (tools / "apt-get").chmod(0o755)
    monkeypatch.setenv("PATH", f"{tools}{os.pathsep}{os.environ['PATH']}")
    work = tmp_path / "work"
    work.mkdir()
    fetched = DebianPackage("dataset-fashion-mnist", "usr/share/datasets/fashion-mnist").fetch(FILES, work, log)
    assert list(fetched) == ["t10k-labels-idx1-ubyte"]
    assert gzip.decompress(fetched["t10k-labels-idx1-ubyte"].read_bytes()) == b"labels"


def test_a_failing_apt_get_is_one_line(tmp_path, monkeypatch):
    tools = tmp_path / "bin"
    tools.mkdir()
    (tools / "apt-get").write_text(
        "#!/bin/sh\necho 'E: Unable to locate package dataset-fashion-mnist' >&2\nexit 100\n"
    )
    (tools / "apt-get").chmod(0o755)
    (tools / "dpkg-deb").write_text("#!/bin/sh\nexit 0\n")
    (tools / "dpkg-deb").chmod(0o755)
    monkeypatch.setenv("PATH", f"{tools}{os.pathsep}{os.environ['PATH']}")
    with pytest.raises(SourceUnavailable, match="apt-get download failed: E: Unable to locate package"):
        DebianPackage("dataset-fashion-mnist", "usr/share/datasets/fashion-mnist").fetch(FILES, tmp_path, log)


@pytest.mark.skipif(
    not Path("/usr/share/datasets/fashion-mnist").is_dir(),
    reason="Debian's dataset-fashion-mnist is not installed (apt-get install dataset-fashion-mnist)",
)
def test_fetch_takes_the_installed_debian_files_and_verifies_them(isolated_data_root):
    from handwriting.data import ensure

    messages = []
    verified, fetched = ensure(get_spec("fashion-mnist"), log=messages.append)
    assert sorted(fetched) == sorted(file.name for file in get_spec("fashion-mnist").files)
    assert all(message.startswith("copying /usr/share/datasets/fashion-mnist/") for message in messages)
    assert verified["t10k-labels-idx1-ubyte"].array[:3].tolist() == [9, 2, 1]
    assert (isolated_data_root / "fashion-mnist" / "train-images-idx3-ubyte").stat().st_size == 47_040_016


# ----------------------------------------------------------------------------- the real files


def test_the_real_files_are_read_in_order(real_fashion):
    train, test = real_fashion.splits["train"], real_fashion.splits["test"]
    assert train.images.shape == (60000, 28, 28) and test.images.shape == (10000, 28, 28)
    assert train.labels[:10].tolist() == [9, 0, 0, 3, 0, 2, 7, 2, 5, 5]
    assert test.labels[:10].tolist() == [9, 2, 1, 1, 6, 1, 4, 6, 5, 7]
    assert np.bincount(test.labels).tolist() == [1000] * 10


# ----------------------------------------------------------------------------- the shipped model


def test_the_shipped_model_is_what_its_card_says(real_fashion):
    """models/fashion-cnn: Fashion-MNIST's classes and framing, trained on the official files, and
    it still scores on the real test set exactly what its card recorded when it was trained."""
    import json

    from handwriting.backends import PaddleBackend

    card = json.loads((ROOT / "models" / "fashion-cnn.json").read_text())
    spec = get_spec("fashion-mnist")
    assert card["classes"] == list(spec.classes) and card["framing"] == "fill"
    assert card["dataset"]["sha256"] == {file.name: file.sha256 for file in spec.files}
    backend = PaddleBackend(ROOT / "models" / "fashion-cnn.pdparams", device="cpu")
    assert backend.framing == "fill"
    test = real_fashion.splits["test"]
    right = sum(
        int(
            (
                backend.probabilities(test.images[start : start + 2000]).argmax(axis=1)
                == test.labels[start : start + 2000]
            ).sum()
        )
        for start in range(0, len(test), 2000)
    )
    assert abs(right - round(card["test_accuracy"] * len(test))) <= 1  # float32 ties may fall either way
