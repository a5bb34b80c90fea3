"""Fuzz every reader of outside input for a few minutes: IDX files, pictures, preprocessing, cards, weights files.

    python bench/fuzz.py                     # 5 minutes in all, shared by the targets
    python bench/fuzz.py --minutes 1 --targets picture idx

Runs each target of ``tests/fuzzing.py`` under ``hypothesis`` in rounds, each round with a
fresh random seed and no example database (nothing is stored in the repository), until the
target's share of the time is spent. A crash — an input that breaks a target's contract —
prints the falsifying example (shrunk by hypothesis) and the exception; every crash found
this way should become a plain regression test with the concrete input.

Prints a table and writes bench/results/fuzz.md (and .json). Exit status 1 if anything crashed.
"""

from __future__ import annotations

import argparse
import datetime
import json
import random
import signal
import sys
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

try:
    import hypothesis
    from hypothesis import HealthCheck, given, settings
except ImportError:  # a dev requirement, not the product's: say so in one line, not a traceback
    sys.exit("error: bench/fuzz.py needs hypothesis: pip install -r requirements-dev.txt")

from bench.machine import describe_machine  # noqa: E402
from handwriting.atomic import write_bytes  # noqa: E402
from handwriting.runtime import quiet_paddle_import_warnings  # noqa: E402
from tests.fuzzing import TARGETS, Target  # noqa: E402

quiet_paddle_import_warnings()  # the card targets import Paddle

RESULTS = ROOT / "bench" / "results"
ROUND_EXAMPLES = 200  # examples per round before a fresh seed: many rounds explore more widely
EXAMPLE_LIMIT_S = 20  # one input taking longer than this is a hang, reported as a crash


@dataclass
class Tally:
    """What fuzzing one target found."""

    target: str
    examples: int = 0  # inputs run, shrinking included
    repeats: int = 0  # inputs that raised a crash already found (not counted again)
    rounds: int = 0
    seconds: float = 0.0
    crashes: list[dict] = field(default_factory=list)  # each a different exception or place in our code


class Hang(Exception):
    """One input ran past ``EXAMPLE_LIMIT_S``."""


def _on_alarm(signum, frame):
    raise Hang(f"one input took more than {EXAMPLE_LIMIT_S} s")


def raised_at(error: BaseException) -> str:
    """``path:line`` of the last frame of our own code (not a library's) that ``error`` passed."""
    frames = traceback.extract_tb(error.__traceback__)
    ours = [frame for frame in frames if frame.filename.startswith(str(ROOT)) and "-packages" not in frame.filename]
    return f"{Path(ours[-1].filename).relative_to(ROOT)}:{ours[-1].lineno}" if ours else "?"


def describe_crash(error: BaseException) -> dict:
    """The exception, the line of our code that raised it, and hypothesis's falsifying example."""
    lines = traceback.format_exception(type(error), error, error.__traceback__)
    notes = getattr(error, "__notes__", [])
    if sys.version_info < (3, 11):  # older tracebacks leave out the notes hypothesis adds
        lines += [note + "\n" for note in notes]
    return {
        "exception": "".join(traceback.format_exception_only(type(error), error)).strip().splitlines()[0],
        "where": raised_at(error),
        "example": "\n".join(notes),
        "traceback": "".join(lines),
    }


def fuzz(target: Target, seconds: float) -> Tally:
    """Run ``target`` in rounds of fresh random examples for about ``seconds``.

    Hypothesis ends a round at its first failure. Once a crash is known, inputs that raise it again
    (an exception of the same type from the same line) only count as ``repeats``, so the rounds go
    on looking for other bugs rather than finding that one again.
    """
    tally = Tally(target.name)
    known: set[tuple[str, str]] = set()  # (exception type, where)
    has_alarm = hasattr(signal, "SIGALRM")

    def counted(value) -> None:
        tally.examples += 1
        if has_alarm:
            signal.alarm(EXAMPLE_LIMIT_S)
        try:
            target.run(value)
        except Exception as error:
            if (type(error).__name__, raised_at(error)) not in known:
                raise
            tally.repeats += 1
        finally:
            if has_alarm:
                signal.alarm(0)

    if has_alarm:
        signal.signal(signal.SIGALRM, _on_alarm)
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        round_settings = settings(
            max_examples=ROUND_EXAMPLES,
            deadline=None,
            database=None,
            derandomize=False,
            report_multiple_bugs=False,
            suppress_health_check=list(HealthCheck),
        )
        test = round_settings(hypothesis.seed(random.getrandbits(64))(given(target.inputs())(counted)))
        tally.rounds += 1
        try:
            test()
        except Exception as error:
            crash = describe_crash(error)
            known.add((type(error).__name__, crash["where"]))
            tally.crashes.append(crash)
            print(f"\n{target.name}: CRASH at {crash['where']}: {crash['exception']}\n{crash['traceback']}", flush=True)
    tally.seconds = time.monotonic() - started
    return tally


def shortened(text: str, most: int = 600) -> str:
    """``text`` cut to ``most`` characters for the Markdown report (the JSON keeps it whole)."""
    return text if len(text) <= most else text[:most] + f" … ({len(text) - most:,} more characters)"


def report(tallies: list[Tally], minutes: float) -> tuple[str, dict]:
    """The Markdown table and the JSON record of a run."""
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    machine = describe_machine("hypothesis")
    rows = [
        f"| {tally.target} | {tally.examples:,} | {len(tally.crashes)} | {tally.repeats:,} | {tally.seconds:.0f} |"
        for tally in tallies
    ]
    header = "| target | examples | crashes | inputs that hit a crash again | seconds |"
    table = "\n".join([header, "|---|---:|---:|---:|---:|", *rows])
    lines = [
        "# Fuzzing the readers of outside input (`bench/fuzz.py`)",
        "",
        f"{minutes:g} min in all, {date}; {machine}. Targets and their contracts: `tests/fuzzing.py`.",
        "",
        table,
        "",
    ]
    found = [(tally.target, crash) for tally in tallies for crash in tally.crashes]
    lines += ["Crashes:", ""] if found else ["No crashes."]
    for target, crash in found:
        example = shortened(crash["example"]).replace("\n", "\n  ")
        lines += [f"- **{target}**: `{crash['exception']}` at `{crash['where']}`", "", f"  ```\n  {example}\n  ```"]
    markdown = "\n".join(lines) + "\n"
    record = {
        "date": date,
        "minutes": minutes,
        "machine": machine,
        "targets": [asdict(tally) for tally in tallies],
    }
    return markdown, record


def main() -> int:
    names = [target.name for target in TARGETS]
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=5.0, help="time for all targets together (default: 5)")
    parser.add_argument(
        "--targets", nargs="+", choices=names, default=names, metavar="NAME",
        help=f"which targets to run (default: all: {' '.join(names)})",
    )  # fmt: skip
    parser.add_argument(
        "--no-save", action="store_true", help="print only; leave bench/results/fuzz.* as they are (default: save)"
    )
    args = parser.parse_args()

    chosen = [target for target in TARGETS if target.name in args.targets]
    share = 60 * args.minutes / len(chosen)
    tallies = []
    for target in chosen:
        print(f"{target.name}: fuzzing for {share:.0f} s ...", flush=True)
        tally = fuzz(target, share)
        print(f"{target.name}: {tally.examples:,} examples in {tally.rounds} rounds, {len(tally.crashes)} crashes")
        tallies.append(tally)

    markdown, record = report(tallies, args.minutes)
    print("\n" + markdown)
    if not args.no_save:
        write_bytes(RESULTS / "fuzz.md", markdown.encode())
        write_bytes(RESULTS / "fuzz.json", (json.dumps(record, indent=2) + "\n").encode())
    return 1 if any(tally.crashes for tally in tallies) else 0


if __name__ == "__main__":
    sys.exit(main())
