"""A training run's files, saved so that a run is never half-saved and never shared by two processes.

    <out>/<name>.pdparams    the kept weights: what infer.py and evaluate load
    <out>/<name>.json        the card: how to rebuild the model, every epoch's metrics, and
                             which resume files belong to it (with their SHA-256)
    <out>/<name>.log.jsonl   one JSON line per finished epoch (a copy of the card's epochs)
    <out>/<name>.curves.png  accuracy and loss per epoch
    <out>/<name>.run/        what --resume needs: the weights and optimizer state after the
                             last finished epoch, the kept epoch's weights, and the lock

One epoch is saved as one commit, in this order:

    1. the epoch's weights and optimizer state, under new names in <name>.run/
    2. the card, written to a temporary name and renamed over the old one — the commit
    3. what is copied or drawn from it: <name>.pdparams, the log, the curves
    4. the previous epoch's files in <name>.run/ are deleted

A process killed before step 2 leaves the previous epoch's card, and the files it names are
still there; killed after it, the new epoch's. Steps 3 and 4 are redone by ``--resume`` from
the card, so whatever instant the process dies, ``--resume`` continues from one whole epoch
and ends with the weights an uninterrupted run ends with (``tests/test_runs.py`` kills a
training process at every step and checks that bit for bit). A card that names resume files
which are missing or changed is refused in one line, never half-used.

``HANDWRITING_KILL_AT=<step>@<epoch>`` (steps: ``STEPS``) makes the process kill itself with
SIGKILL at that step of that epoch's save: the tests use it to prove the above.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import secrets
import shlex
import signal
from collections.abc import Iterator
from pathlib import Path

from handwriting.atomic import write_bytes
from handwriting.checkpoint import card_path, read_card, save_card, sha256_of
from handwriting.errors import UserError, describe_os_error
from handwriting.weights import WeightsError, state_bytes, state_from_bytes

STEPS = ("weights", "optimizer", "card", "published", "log", "curves", "pruned")
KILL_VARIABLE = "HANDWRITING_KILL_AT"
MAX_NAME_BYTES = 200  # file names may have 255 bytes; ours add up to ~30 (".curves.png", temporary names)
EPOCH_NUMBERS = ("epoch", "train_loss", "train_accuracy", "test_loss", "test_accuracy")  # what the curves draw
RESUME_FILE = re.compile(r"^[0-9a-f]{8}-epoch-[0-9]{4,}\.(pdparams|pdopt)$")


class RunError(UserError):
    """A run cannot be started, saved or resumed: its name, its folder, a lock, a broken save."""


def check_name(name: str) -> str:
    """A run name is a file name, kept as given: ``--name a.b`` writes ``a.b.pdparams`` and never
    touches ``a.*``. Paths, hidden names and names too long for a file system are refused."""
    if (
        not name
        or name in (".", "..")
        or name.startswith(".")
        or any(character in name for character in "/\\\0")
        or any(ord(character) < 32 for character in name)
    ):
        raise RunError(
            f"--name {name!r}: give a plain file name (no '/' or '\\', no control characters, not starting "
            "with '.'); use --out for the folder"
        )
    size = len(name.encode("utf-8", "surrogateescape"))
    if size > MAX_NAME_BYTES:
        raise RunError(f"--name is {size} bytes long; keep it under {MAX_NAME_BYTES}")
    return name


def _kill_point(step: str, epoch: int) -> None:
    """Test hook: SIGKILL this process at ``step`` of epoch ``epoch``'s save, if asked to."""
    if os.environ.get(KILL_VARIABLE) == f"{step}@{epoch}":
        os.kill(os.getpid(), getattr(signal, "SIGKILL", signal.SIGTERM))


class RunFiles:
    """The files of the run ``name`` in the folder ``out`` (see the module's docstring): every path
    a run writes is one of ``weights``, ``card``, ``log``, ``curves``, ``state_dir`` (the resume
    files, named in the card, live there) and ``lock``; nothing else builds a run's paths."""

    def __init__(self, out: str | os.PathLike, name: str):
        self.name = check_name(name)
        self.out = Path(out)
        base = self.out / name
        self.weights = Path(f"{base}.pdparams")
        self.card = card_path(self.weights)
        self.log = Path(f"{base}.log.jsonl")
        self.curves = Path(f"{base}.curves.png")
        self.state_dir = Path(f"{base}.run")
        self.lock = self.state_dir / "lock"
        self.run_id = secrets.token_hex(4)  # names this run's resume files; --resume takes the card's

    def __str__(self) -> str:
        return str(self.out / self.name)

    # ------------------------------------------------------------------ one run at a time

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the run's lock while the block runs; a second process gets a ``RunError``."""
        try:
            self.state_dir.mkdir(parents=True, exist_ok=True)
            handle = open(self.lock, "a+")  # noqa: SIM115 - held open for the whole run
        except OSError as error:
            raise RunError(f"cannot write to {self.out}: {describe_os_error(error)}; choose another --out") from None
        with handle:
            if not _try_lock(handle, self.out):
                holder = "unknown"
                with contextlib.suppress(OSError, UnicodeDecodeError):
                    handle.seek(0)
                    holder = handle.read().strip() or holder
                raise RunError(
                    f"{self} is being trained by another process (pid {holder}); wait for it to finish, "
                    "or choose another --name"
                )
            handle.seek(0)
            handle.truncate()
            handle.write(f"{os.getpid()}\n")
            handle.flush()
            self._remove_temporary_files()
            try:
                yield
            finally:
                self._forget_if_nothing_saved()

    def _forget_if_nothing_saved(self) -> None:
        """A run refused or stopped before its first epoch was saved leaves no empty <name>.run/ behind."""
        if self.exists():
            return
        with contextlib.suppress(OSError):
            if [path.name for path in self.state_dir.iterdir()] == [self.lock.name]:
                self.lock.unlink()
                self.state_dir.rmdir()

    def exists(self) -> bool:
        """Whether a run (or any model) is already saved under this name."""
        return self.card.exists() or self.weights.exists()

    def resume_command(self) -> str:
        """The command that continues this run (train.py takes every other setting from the card)."""
        return f"python train.py --out {shlex.quote(str(self.out))} --name {shlex.quote(self.name)} --resume"

    def saved_so_far(self) -> str:
        """What this run has saved, in words (after Ctrl-C)."""
        with contextlib.suppress(UserError, KeyError, TypeError, AttributeError):
            saved = read_card(self.card)["resume"]
            if saved["run"] == self.run_id:
                return f"{self} is saved up to epoch {saved['epoch']}; continue with: {self.resume_command()}"
        return f"no epoch of this run was saved in {self.out}/"

    def _remove_temporary_files(self) -> None:
        """Temporary files a killed process left (``.<file>.<random>.tmp``); only this run's."""
        ours = {path.name for path in (self.weights, self.card, self.log, self.curves)}
        pattern = re.compile(r"^\.(.+)\.[A-Za-z0-9_]{8}\.(tmp|png)$")
        for folder, names in ((self.out, ours), (self.state_dir, None)):
            for path in folder.glob(".*"):
                match = pattern.match(path.name)
                if match and (names is None or match.group(1) in names):
                    with contextlib.suppress(OSError):  # left for next time; it harms nothing
                        path.unlink(missing_ok=True)

    # ------------------------------------------------------------------ saving an epoch

    def commit(self, card: dict, weights: dict, optimizer: dict, kept: bool, title: str) -> dict:
        """Save one finished epoch (``card["epochs"][-1]``) as one commit; return the card saved.

        ``weights`` and ``optimizer`` are the model's and the optimizer's state dicts; ``kept``
        says whether this epoch's weights become the published ``<name>.pdparams``.
        """
        epoch = len(card["epochs"])
        previous = card.get("resume", {})
        stem = f"{self.run_id}-epoch-{epoch:04d}"
        weights_name, optimizer_name = f"{stem}.pdparams", f"{stem}.pdopt"
        kept_name = weights_name if kept else previous.get("kept")
        if not kept_name:
            raise RuntimeError("the first epoch of a run must be kept")
        try:
            weights_data = state_bytes(weights)
            write_bytes(self.state_dir / weights_name, weights_data)
            _kill_point("weights", epoch)
            optimizer_data = state_bytes(optimizer)
            write_bytes(self.state_dir / optimizer_name, optimizer_data)
            _kill_point("optimizer", epoch)
            sha256 = {weights_name: sha256_of(weights_data), optimizer_name: sha256_of(optimizer_data)}
            if not kept:
                sha256[kept_name] = previous["sha256"][kept_name]
            card = {
                **card,
                "weights_sha256": sha256[kept_name],
                "resume": {
                    "run": self.run_id,
                    "epoch": epoch,
                    "weights": weights_name,
                    "optimizer": optimizer_name,
                    "kept": kept_name,
                    "sha256": sha256,
                },
            }
            save_card(self.card, card)
        except OSError as error:
            raise RunError(
                f"cannot save epoch {epoch} in {self.out}: {describe_os_error(error)}; "
                + (f"epoch {epoch - 1} is saved, continue from it with --resume" if epoch > 1 else "nothing was saved")
            ) from None
        _kill_point("card", epoch)
        self._finish(card, title, epoch)
        return card

    def _finish(self, card: dict, title: str, epoch: int) -> None:
        """Steps 3 and 4: bring everything copied or drawn from the card up to date with it."""
        from handwriting.reports import plot_curves

        try:
            kept = self.state_dir / card["resume"]["kept"]
            if not self.weights.is_file() or sha256_of(self.weights.read_bytes()) != card["weights_sha256"]:
                write_bytes(self.weights, kept.read_bytes())
            _kill_point("published", epoch)
            lines = "".join(json.dumps({"run": self.name, **record}) + "\n" for record in card["epochs"])
            write_bytes(self.log, lines.encode())
            _kill_point("log", epoch)
            plot_curves(card["epochs"], self.curves, title=title)
            _kill_point("curves", epoch)
            referenced = {card["resume"][key] for key in ("weights", "optimizer", "kept")}
            for path in self.state_dir.iterdir():
                if RESUME_FILE.match(path.name) and path.name not in referenced:
                    path.unlink()
            _kill_point("pruned", epoch)
        except OSError as error:
            raise RunError(
                f"epoch {epoch} is saved, but {error.filename or self.out} could not be updated "
                f"({describe_os_error(error)}); fix that, then run again with --resume to finish"
            ) from None

    # ------------------------------------------------------------------ resuming

    def resume(self, title: str, repair: bool = True) -> tuple[dict, dict, dict]:
        """The saved card, weights and optimizer state to continue from -> (card, weights, optimizer).

        Everything is checked against the SHA-256 the card recorded; what was left unfinished
        by a process that died after its commit (the published weights, log, curves) is redone,
        unless ``repair`` is False (the processes of a launched run that only read: rank 0 repairs).
        """
        if not self.card.exists():
            raise RunError(f"--resume: there is no run {self.name!r} in {self.out}/; start it without --resume")
        card = read_card(self.card)
        saved = card.get("resume")
        if not isinstance(saved, dict) or not isinstance(card.get("epochs"), list):
            raise RunError(
                f"--resume: {self.card} holds no resume state (a shipped or converted model, or one trained "
                "before runs could resume safely); start a new run with another --name"
            )
        try:
            names = {key: saved[key] for key in ("weights", "optimizer", "kept")}
            if not all(isinstance(value, str) and RESUME_FILE.match(value) for value in names.values()):
                raise KeyError("file names")
            epoch, run_id, recorded = saved["epoch"], saved["run"], saved["sha256"]
            if type(epoch) is not int or epoch != len(card["epochs"]) or not isinstance(run_id, str):
                raise KeyError("epoch")
            if not isinstance(card.get("weights_sha256"), str) or not all(
                isinstance(record, dict) and all(isinstance(record.get(key), (int, float)) for key in EPOCH_NUMBERS)
                for record in card["epochs"]
            ):
                raise KeyError("epochs")
        except (KeyError, TypeError):
            raise RunError(f"--resume: {self.card}'s resume record is damaged; start a new run") from None
        contents = {}
        for key, name in names.items():
            path = self.state_dir / name
            try:
                data = path.read_bytes()
            except OSError as error:
                raise RunError(
                    f"--resume: {path} ({key} after epoch {epoch}) cannot be read ({describe_os_error(error)}); "
                    "the run cannot continue exactly — start it again with --overwrite"
                ) from None
            if not isinstance(recorded, dict) or sha256_of(data) != recorded.get(name):
                raise RunError(
                    f"--resume: {path} is not the file {self.card.name} saved after epoch {epoch} (its SHA-256 "
                    "differs); the run cannot continue exactly — start it again with --overwrite"
                )
            contents[key] = (data, path)  # the bytes just checked are the bytes loaded: no second read
        try:
            weights = state_from_bytes(*contents["weights"], "checkpoint")
            optimizer = state_from_bytes(*contents["optimizer"], "optimizer state")
        except WeightsError as error:
            raise RunError(f"--resume: {error}") from None
        self.run_id = run_id
        if repair:
            self._finish(card, title, epoch)
        return card, weights, optimizer


def _try_lock(handle, out: Path) -> bool:
    """Take an exclusive lock on an open file without waiting; False when another process has it.
    The operating system drops the lock when the process ends, however it ends."""
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt

        try:
            handle.seek(0)  # the lock covers a byte range: byte 0, whatever the file holds
            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as error:
        if error.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            return False
        raise RunError(
            f"cannot lock a run in {out}: this file system cannot lock files ({describe_os_error(error)}); "
            "choose an --out on a local disk"
        ) from None
    return True
