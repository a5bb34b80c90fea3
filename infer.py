"""Recognise handwritten digits — or letters, or clothes: what the model learned — in your own pictures.

    python infer.py work/example_0.png              # work/example_0.png: 0 (>99.9%)
    python infer.py work/ --topk 3                  # every picture under work/, with runners-up
    python infer.py "photos/*.jpg" --json           # one JSON object per line
    python infer.py work/ --show grid.png           # the pictures and what the model read, as a PNG
    python infer.py work/number_205921.jpg          # work/number_205921.jpg: 205921 (min 100.0%)

Any picture Pillow reads (PNG, JPEG, BMP, GIF, WebP, TIFF), dark ink on light paper or light on
dark, any size: each is cleaned up and framed as the model's training data was (its card says which:
MNIST's 20 px box centred by centre of mass, EMNIST's glyph centred in its square, Fashion-MNIST's
longest side 28 px) before the model sees it. A picture of several handwritten characters (a postcode,
an amount, a word) is read as all of them, left to right and line by line, each framed on its own;
touching characters are cut apart where the model reads the parts better than the whole (for digits,
models/pairs, which knows digits alone and two touching, helps decide, cut and read them, and
models/lines, which reads a whole line of digits at once, checks each line). Exit status:
0 when every picture was read, 1 when some could not be (each gets one line saying why), 2 for usage errors.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path

# Only Paddle- and OpenCV-free modules at the top: --help answers at once.
from handwriting.config import BACKEND_NAMES, DEVICES, PREPROCESS_NAMES
from handwriting.errors import UserError, counted, describe_os_error, interrupt_on_sigterm, run_at_the_edge
from handwriting.runtime import quiet_paddle_import_warnings


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("pictures", nargs="+", metavar="PICTURE", help="picture files, directories or globs")
    parser.add_argument(
        "--model",
        metavar="PATH",
        help="a train.py checkpoint (.pdparams), or an export of one (.onnx, .npz, .paddle folder: "
        "python -m handwriting.export), or a NumPy network's .npz (default: models/cnn.pdparams, "
        "run from its export models/cnn.onnx when onnxruntime is installed)",
    )
    parser.add_argument(
        "--topk",
        type=int,
        default=1,
        metavar="K",
        help="also show the K-1 runners-up (several characters: each one's, in --json) (default: 1)",
    )
    parser.add_argument("--json", action="store_true", help="one JSON object per picture and line (default: text)")
    parser.add_argument("--show", metavar="PNG", help="draw the pictures with what the model read into this PNG")
    parser.add_argument(
        "--save-preprocessed",
        metavar="DIR",
        help="save the 28x28 each picture became, as PNGs (name.png; name-1.png, name-2.png ... for each of "
        "several characters)",
    )
    parser.add_argument(
        "--single",
        action="store_true",
        help="read each picture as one character, even one that seems to hold several (it gets a warning) "
        "(default: a picture of several handwritten characters is read as all of them)",
    )
    parser.add_argument(
        "--preprocess",
        choices=("auto", *PREPROCESS_NAMES),
        default="auto",
        help="auto: clean the picture up, then frame it as the model's training data was (its card says: mnist, "
        "emnist or fill); mnist: crop, 20 px box, centre of mass as MNIST; emnist: crop, centre in a square as "
        "EMNIST; fill: longest side 28 px as Fashion-MNIST; naive: the Paddle tutorial's squash-and-invert "
        "(default: auto)",
    )
    parser.add_argument(
        "--backend",
        choices=BACKEND_NAMES,
        default="auto",
        help="auto: the first installed backend that holds the model's current weights (onnx, then numpy, "
        "then paddle); paddle: the checkpoint in Paddle's dynamic graph; inference: its Paddle Inference export; "
        "onnx: its ONNX export in onnxruntime; numpy: its NumPy export, nothing but NumPy (default: auto)",
    )
    parser.add_argument(
        "--device",
        choices=DEVICES,
        default="auto",
        help="where the paddle and inference backends run; auto: GPU when there is one (the onnx and numpy "
        "backends run on the CPU; gpu makes auto pick paddle) (default: auto)",
    )
    args = parser.parse_intermixed_args(argv)  # pictures may come before or after flags
    if args.topk < 1:
        parser.error(f"--topk must be at least 1, got {args.topk}")
    if args.show and not args.show.lower().endswith(".png"):
        parser.error(f"--show writes a PNG; give it a name ending in .png, not {args.show!r}")
    return args


def ready_to_write(directory: Path, flag: str) -> None:
    """Make ``directory`` (for an output flag) now, so a bad path fails before any work is done."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UserError(f"{flag}: cannot write to {directory} ({describe_os_error(error)})") from None


def percent(probability: float) -> str:
    """99.8% — but never "100.0%" or "0.0%" for what the model is not quite sure or unsure of."""
    if 0.9995 <= probability < 1:
        return ">99.9%"
    if 0 < probability < 0.0005:
        return "<0.1%"
    return f"{probability:.1%}"


def describe(result, has_confidence: bool) -> str:
    """One text line: ``path: label (confidence)`` and the runners-up, if asked for; for several
    characters, ``path: 205921 (min 97.1%)`` (lines of writing separated by " / ")."""
    label = result.label.replace("\n", " / ")
    if not has_confidence:
        return f"{result.path}: {label} (regression model: no confidence)"
    if result.characters:
        return f"{result.path}: {label} (min {percent(result.confidence)})"
    line = f"{result.path}: {label} ({percent(result.confidence)})"
    if len(result.topk) > 1:
        line += "   then " + ", ".join(f"{label} ({percent(probability)})" for label, probability in result.topk[1:])
    return line


def main(argv: list[str] | None = None) -> int:
    quiet_paddle_import_warnings()
    args = parse_arguments(argv)
    failed = 0

    def work() -> None:
        with contextlib.ExitStack() as stack:
            run(stack)

    def run(stack: contextlib.ExitStack) -> None:
        nonlocal failed
        from tqdm import tqdm

        from handwriting.backends import make_backend
        from handwriting.recognise import PARALLEL_FROM, collect, recognise, save_frames, start_workers
        from handwriting.runtime import available_cores

        if args.save_preprocessed:
            ready_to_write(Path(args.save_preprocessed), "--save-preprocessed")
        if args.show:
            ready_to_write(Path(args.show).resolve().parent, "--show")
            try:
                import matplotlib  # noqa: F401 (handwriting.reports imports it only when it draws)
            except ImportError:  # a Paddle-free install may leave it out
                raise UserError(
                    "--show draws with matplotlib, which is not installed: pip install matplotlib"
                ) from None
            from handwriting.reports import plot_predictions
        items = collect(args.pictures)
        # Many pictures: start the workers that prepare them now, so they load while Paddle does.
        many = len(items) >= PARALLEL_FROM and available_cores() > 1
        pool = stack.enter_context(start_workers()) if many else None
        # With workers preparing pictures on every core, the model gets one thread rather than
        # contending with them (Paddle's dynamic graph ran ~15% faster so; a batch of 256 photos is
        # ~70 ms for onnxruntime on one thread, against ~280 ms for the workers to prepare it).
        backend = make_backend(args.backend, args.model, device=args.device, threads=1 if pool else None)
        interrupt_on_sigterm()  # after Paddle's import (if the backend needed it), which sets its own handler
        keep = args.show is not None
        shown, saved = [], []
        progress = tqdm(total=len(items), unit="img", disable=len(items) < 200 or None, file=sys.stderr)
        readings = recognise(
            items, backend, args.preprocess, args.topk, pool=pool, keep_pictures=keep, single=args.single
        )
        for result in readings:
            progress.update()
            if result.error is not None:
                failed += 1
            if args.json:
                print(json.dumps(result.as_json()), flush=True)
            elif result.error is not None:
                progress.write(f"{result.path}: error: {result.error}", file=sys.stderr)
            else:
                progress.write(describe(result, backend.has_confidence), file=sys.stdout)
                if result.warning:
                    progress.write(f"{result.path}: warning: {result.warning}", file=sys.stderr)
            if keep and len(shown) < 100:
                shown.append(result)
            if args.save_preprocessed and result.error is None:
                saved.append(result)
        progress.close()
        # Each file is written to a temporary name and renamed: a failure leaves no half file. The
        # error names the output the user asked for, not the temporary name.
        writing = args.save_preprocessed
        try:
            if args.save_preprocessed:
                count = save_frames(saved, args.save_preprocessed)
                print(
                    f"saved {counted(count, 'preprocessed 28x28 picture')} to {args.save_preprocessed}",
                    file=sys.stderr,
                )
            writing = args.show
            if keep:
                recipe = args.preprocess if args.preprocess != "auto" else f"auto ({backend.framing})"
                title = f"{backend.path.name} ({backend.name}), --preprocess {recipe}"
                if len(items) > len(shown):
                    title += f" (first {len(shown)} of {len(items)})"
                plot_predictions(shown, args.show, title)
                print(f"drew {counted(len(shown), 'picture')} into {args.show}", file=sys.stderr)
        except OSError as error:
            raise UserError(f"cannot write {writing}: {describe_os_error(error)}") from None
        if failed:
            verb = "was" if failed == 1 else "were"
            print(
                f"{failed} of {counted(len(items), 'input')} {verb} not recognised (see the lines above)",
                file=sys.stderr,
            )

    status = run_at_the_edge(work, interrupted="interrupted")
    return status if status else (1 if failed else 0)


if __name__ == "__main__":
    sys.exit(main())
