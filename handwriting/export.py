"""Export a train.py checkpoint to run without Python's Paddle: Paddle Inference, ONNX, or NumPy.

    python -m handwriting.export models/cnn.pdparams                   # -> models/cnn.onnx, models/cnn.npz
    python -m handwriting.export runs/mlp.pdparams --format paddle,onnx-int8   # runs/mlp.paddle/, runs/mlp.int8.onnx
    python -m handwriting.export runs/cnn.pdparams --format paddle --legacy --out runs/lite  # .pdmodel, Paddle Lite

Each export is written beside its checkpoint (or into ``--out``), where ``infer.py --backend
auto`` finds it, and carries an export card: the classes, the framing recipe, the normalisation
and the SHA-256 of the weights it came from. Before it is put in place, every export is run by
its own backend on real test digits and compared with the dynamic-graph model: the largest
difference in any class probability is printed, and an export further than ``PARITY`` from
Paddle is not written at all. An export already there is replaced only with ``--overwrite``.

    paddle  ``paddle.jit.save`` with an InputSpec [None, 1, 28, 28]: ``inference.json`` (Paddle 3's
            program format) and ``inference.pdiparams``, for ``paddle.inference`` in Python or C++.
            ``--legacy`` writes the old ``inference.pdmodel`` instead, which Paddle Lite's
            ``paddle_lite_opt`` (phones, Python <= 3.9) still needs.
    onnx    the Paddle program converted by paddle2onnx (opset 13), the card in its metadata; runs in
            onnxruntime on any platform and in the browser (``python -m handwriting.serve``).
    onnx-int8  the ONNX model with weights and activations in 8 bits (onnxruntime's static
            quantisation, ranges measured on 512 training pictures): ~2.6x the throughput on a CPU
            with VNNI (``bench/deploy_speed.py``), for a few hundredths of probability; it must give
            Paddle's top class on 99.5% of the test pictures. Run it with ``--model x.int8.onnx``.
    npz     the forward pass as NumPy steps (``handwriting.program``), batch norm folded in.

paddle2onnx, onnx and ml_dtypes are an optional extra: ``pip install -r requirements-export.txt``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

from handwriting.backends import (
    BACKENDS,
    EXPORT_FORMAT,
    EXPORT_KIND_FORMAT,
    EXPORT_SUFFIXES,
    ONNX_CARD_KEY,
    PADDLE_CARD,
    card_framing,
    probabilities_from,
    sha256_file,
)
from handwriting.errors import UserError, counted, describe_os_error, one_line, run_at_the_edge
from handwriting.preprocess.pixels import NORMALISATION, normalize
from handwriting.runtime import quiet_paddle_import_warnings

FORMATS = ("paddle", "onnx", "onnx-int8", "npz")
FORMAT_BACKEND = {**{fmt: kind for kind, fmt in EXPORT_KIND_FORMAT.items()}, "onnx-int8": "onnx"}  # "npz" -> "numpy"
# The file (or folder) each format writes, after the checkpoint's name.
FORMAT_SUFFIX = {**{fmt: EXPORT_SUFFIXES[kind] for kind, fmt in EXPORT_KIND_FORMAT.items()}, "onnx-int8": ".int8.onnx"}
PARITY = 1e-4  # the largest difference in a class probability an export may have from Paddle
PARITY_PICTURES = 1000  # test digits each export is checked on
# onnx-int8 rounds weights and activations to 8 bits: its probabilities differ from Paddle's by up to
# a few hundredths, so it is held to its answers instead: the same top class on this share of them.
INT8_AGREEMENT = 0.995
INT8_CALIBRATION = 512  # training pictures whose activations set the 8-bit ranges (never test pictures)
ONNX_OPSET = 13  # what onnxruntime (Python and web) and paddle2onnx agree on for these layers
INPUT_NAME = "image"


def export_card(card: dict, checkpoint: Path, kind: str) -> dict:
    """The card every export carries: what a backend needs to read pictures for the model."""
    import paddle

    return {
        "format": EXPORT_FORMAT,
        "kind": kind,
        "classes": list(card["classes"]),
        "task": card["model"]["task"],
        "in_shape": list(card["model"]["in_shape"]),
        "input": {"name": INPUT_NAME, "shape": [None, *card["model"]["in_shape"]], "dtype": "float32"},
        "framing": card_framing(card, checkpoint),
        "normalisation": NORMALISATION,
        "model": {"name": card["model"]["name"], "options": card["model"]["options"]},
        "dataset": {"name": (card.get("dataset") or {}).get("name")},
        "test_accuracy": card.get("test_accuracy"),
        "source": {"checkpoint": checkpoint.name, "weights_sha256": sha256_file(checkpoint)},
        "paddle": paddle.__version__,
    }


# ----------------------------------------------------------------------------- the three formats


IMAGES = (None, 1, 28, 28)  # the models' input: any number of 28x28 frames


def _input_spec(shape: tuple = IMAGES):
    from paddle.static import InputSpec

    return [InputSpec(list(shape), "float32", INPUT_NAME)]


def write_paddle(model, card: dict, folder: Path, legacy: bool = False, input_shape: tuple = IMAGES) -> None:
    """``paddle.jit.save`` into ``folder``: inference.json (or .pdmodel) + inference.pdiparams + card.json.
    ``input_shape``: None where any size goes (the line reader's width)."""
    import paddle

    folder.mkdir(parents=True, exist_ok=True)
    program_ir = paddle.pir_utils.OldIrGuard() if legacy else contextlib.nullcontext()
    try:
        with program_ir, _quiet_output():
            paddle.jit.save(model, str(folder / "inference"), input_spec=_input_spec(input_shape))
    except TypeError:
        if not legacy:
            raise
        # Paddle 3.3's old-IR jit.save fails on tanh and sigmoid layers ("tanh(): argument must be
        # Value, but got Variable"): a limit of Paddle's, not of the model.
        raise UserError(
            f"--legacy: Paddle {paddle.__version__} cannot save this model in the old .pdmodel format (its tanh "
            "and sigmoid layers fail there); export it without --legacy"
        ) from None
    (folder / PADDLE_CARD).write_text(json.dumps(card, indent=1) + "\n", encoding="utf-8")


def _onnx_tools() -> None:
    try:
        import onnx  # noqa: F401
        import paddle2onnx  # noqa: F401
    except ImportError:
        raise UserError("--format onnx needs paddle2onnx: pip install -r requirements-export.txt") from None


def _quantisation_tools() -> None:
    try:
        import onnxruntime.quantization  # noqa: F401
    except ImportError:
        raise UserError(
            "--format onnx-int8 needs onnxruntime's quantisation tools: pip install -r requirements-export.txt"
        ) from None


def onnx_bytes(model, card: dict, input_shape: tuple = IMAGES) -> bytes:
    """The model as an ONNX file's bytes, the card in its metadata (``ONNX_CARD_KEY``)."""
    _onnx_tools()
    import onnx
    import paddle2onnx

    with tempfile.TemporaryDirectory() as folder:
        write_paddle(model, card, Path(folder), input_shape=input_shape)
        # paddle2onnx's default optimiser (onnxoptimizer) fails on Paddle 3 programs ("pass
        # eliminate_nop_cast is unknown"); onnxruntime optimises the graph when it loads it anyway.
        with _quiet_output() as said:
            try:
                converted = paddle2onnx.export(
                    os.path.join(folder, "inference.json"),
                    os.path.join(folder, "inference.pdiparams"),
                    None,
                    opset_version=ONNX_OPSET,
                    optimize_tool="None",
                    enable_onnx_checker=True,
                )
            except Exception as error:  # paddle2onnx raises bare exceptions; say what it printed
                raise RuntimeError(f"paddle2onnx failed: {one_line(error)}\n{said()}") from error
    graph = onnx.load_from_string(converted)
    # paddle2onnx leaves a few constants no node reads (onnxruntime warns about each on loading).
    used = {name for node in graph.graph.node for name in node.input} | {output.name for output in graph.graph.output}
    for node in [node for node in graph.graph.node if node.op_type == "Constant" and node.output[0] not in used]:
        graph.graph.node.remove(node)
    entry = graph.metadata_props.add()
    entry.key, entry.value = ONNX_CARD_KEY, json.dumps(card)
    graph.producer_name = "handwriting.export (paddle2onnx)"
    return graph.SerializeToString()


def int8_bytes(fp32: bytes, calibration: np.ndarray) -> bytes:
    """An ONNX model's bytes -> the same model quantised to 8 bits (weights per channel, activations
    per tensor, ranges from ``calibration`` [N, 1, 28, 28] in [-1, 1]); the card is kept."""
    try:
        from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
        from onnxruntime.quantization.shape_inference import quant_pre_process
    except ImportError:
        raise UserError(
            "--format onnx-int8 needs onnxruntime's quantisation tools: pip install -r requirements-export.txt"
        ) from None

    class Batches(CalibrationDataReader):
        def __init__(self):
            self.batches = iter(
                [{INPUT_NAME: calibration[start : start + 64]} for start in range(0, len(calibration), 64)]
            )

        def get_next(self):
            return next(self.batches, None)

    with tempfile.TemporaryDirectory() as folder:
        original, prepared, quantised = (Path(folder) / name for name in ("fp32.onnx", "prepared.onnx", "int8.onnx"))
        original.write_bytes(fp32)
        with _quiet_output():
            # Folding batch norm into the convolutions first (onnxruntime's graph optimiser) is what
            # makes the 8-bit model fast: without it each batch norm is quantised on its own (5k img/s, not 20k).
            quant_pre_process(str(original), str(prepared), skip_symbolic_shape=True)
            quantize_static(
                str(prepared),
                str(quantised),
                Batches(),
                quant_format=QuantFormat.QDQ,
                per_channel=True,
                activation_type=QuantType.QUInt8,
                weight_type=QuantType.QInt8,
            )
        return quantised.read_bytes()


@contextlib.contextmanager
def _quiet_output():
    """Hide what Paddle's and paddle2onnx's C++ code prints to stdout and stderr (progress notes),
    at the file-descriptor level; the block gets a function that returns what was said."""
    sys.stdout.flush()
    sys.stderr.flush()
    with tempfile.TemporaryFile() as sink:
        saved = [os.dup(1), os.dup(2)]
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)

        def said() -> str:
            sink.seek(0)
            return sink.read().decode(errors="replace")[-2000:]

        try:
            yield said
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for descriptor in saved:
                os.close(descriptor)


def program_of(model, card: dict):
    """The model as NumPy steps (``handwriting.program.Program``): its leaf layers in the order its
    forward pass calls them, batch norm folded into the convolution before it, dropout left out."""
    from handwriting.models import leaves_called
    from handwriting.program import Program

    steps: list[tuple[str, dict, dict]] = []
    for layer, _ in leaves_called(model, tuple(card["in_shape"])):
        steps += _steps_of(layer, steps)
    return Program(steps, {**card, "steps": [{"op": name, **settings} for name, settings, _ in steps]})


def _array(tensor) -> np.ndarray:
    return np.asarray(tensor.numpy(), dtype=np.float32)


def _one_number(value, what: str, layer) -> int:
    """Paddle's int-or-pair settings (stride 2, [2, 2]) -> one int; a non-square one is refused."""
    values = [value] if isinstance(value, int) else list(value)
    if not values or not all(isinstance(part, int) for part in values) or len(set(values)) != 1:
        raise UserError(
            f"--format npz: {type(layer).__name__} with {what} {value} has no NumPy step; use --format onnx"
        )
    return values[0]


def _steps_of(layer, steps: list) -> list[tuple[str, dict, dict]]:
    """One leaf layer -> the NumPy steps that do what it does (none for dropout; batch norm changes
    the convolution already in ``steps``)."""
    from paddle import nn

    def unsupported(why: str) -> UserError:
        return UserError(f"--format npz: the NumPy runtime {why}; use --format onnx or paddle")

    if isinstance(layer, nn.Dropout):
        return []  # identity at inference
    layout = getattr(layer, "_data_format", None) or getattr(layer, "data_format", None) or "NCHW"
    if layout not in ("NCHW", "NCL", "NC"):
        raise unsupported(f"runs only channels-first layers, not {type(layer).__name__} in {layout}")
    if isinstance(layer, nn.Conv2D):
        if layer._groups != 1 or list(layer._dilation) != [1, 1] or layer._padding_mode != "zeros":
            raise unsupported("runs only plain convolutions (groups 1, dilation 1, zero padding)")
        arrays = {"weight": _array(layer.weight)}
        if layer.bias is not None:
            arrays["bias"] = _array(layer.bias)
        settings = {
            "stride": _one_number(layer._stride, "stride", layer),
            "padding": _one_number(layer._padding, "padding", layer),
        }
        return [("conv2d", settings, arrays)]
    if isinstance(layer, nn.BatchNorm2D):
        if layer._use_global_stats is False:  # normalises by each batch's own statistics, even at inference
            raise unsupported("folds only batch norm that uses its running statistics at inference")
        if not steps or steps[-1][0] != "conv2d":
            raise unsupported("folds batch norm only into the convolution just before it")
        _, _, conv = steps[-1]
        scale = _array(layer.weight) / np.sqrt(_array(layer._variance) + layer._epsilon)  # [O]
        shift = _array(layer.bias) - _array(layer._mean) * scale
        conv["bias"] = (conv.get("bias", 0) * scale + shift).astype(np.float32)
        conv["weight"] = (conv["weight"] * scale[:, None, None, None]).astype(np.float32)
        return []
    if isinstance(layer, (nn.MaxPool2D, nn.AvgPool2D)):
        if layer.padding not in (0, [0, 0]) or layer.ceil_mode or getattr(layer, "divisor", None) is not None:
            raise unsupported("runs only pools without padding, ceil_mode or a divisor of their own")
        kernel = _one_number(layer.ksize, "kernel", layer)
        stride = kernel if layer.stride is None else _one_number(layer.stride, "stride", layer)
        return [
            ("maxpool2d" if isinstance(layer, nn.MaxPool2D) else "avgpool2d", {"kernel": kernel, "stride": stride}, {})
        ]
    if isinstance(layer, nn.Linear):
        arrays = {"weight": _array(layer.weight)}
        if layer.bias is not None:
            arrays["bias"] = _array(layer.bias)
        return [("linear", {}, arrays)]
    if isinstance(layer, nn.Flatten):
        if layer.start_axis != 1 or layer.stop_axis != -1:
            raise unsupported("flattens only everything after the batch axis")
        return [("flatten", {}, {})]
    simple = {nn.ReLU: "relu", nn.Tanh: "tanh", nn.Sigmoid: "sigmoid"}
    if type(layer) in simple:
        return [(simple[type(layer)], {}, {})]
    raise unsupported(f"has no step for {type(layer).__name__} (add one to handwriting.program.OPS)")


# ----------------------------------------------------------------------------- checking and writing


def parity_frames(card: dict, data_dir: str | None = None) -> tuple[np.ndarray, str]:
    """uint8 frames [N, 28, 28] to compare an export with Paddle on, and what they are: the first
    ``PARITY_PICTURES`` test pictures of the model's dataset when they are on this machine, else
    the pictures in work/ prepared as infer.py prepares them."""
    from handwriting.data.registry import DATASETS
    from handwriting.data.store import load

    name = (card.get("dataset") or {}).get("name")
    if name in DATASETS:
        with contextlib.suppress(UserError):
            test = load(DATASETS[name], data_dir, download=False, log=lambda *_: None).splits["test"]
            if len(test.images) and test.images.shape[1:] == (28, 28):
                frames = test.images[:PARITY_PICTURES]
                return frames, f"{counted(len(frames), f'{name} test picture')}"
    from handwriting.recognise import collect, prepare

    work = Path(__file__).resolve().parent.parent / "work"
    frames = [prepare(item.path, card_framing(card, "card"))[0] for item in collect([str(work)])]
    frames = [frame for frame in frames if frame is not None]
    if not frames:
        raise UserError(f"no test pictures to check the export with: fetch the {name} dataset first")
    return np.stack(frames), f"{counted(len(frames), 'picture')} in work/ ({name} is not on this machine)"


def calibration_frames(card: dict, data_dir: str | None = None) -> np.ndarray:
    """uint8 [N, 28, 28]: the first ``INT8_CALIBRATION`` training pictures of the model's dataset."""
    from handwriting.data.registry import DATASETS
    from handwriting.data.store import load

    name = (card.get("dataset") or {}).get("name")
    if name not in DATASETS:
        raise UserError(f"--format onnx-int8: the card names no dataset this version knows ({name!r}) to calibrate on")
    try:
        train = load(DATASETS[name], data_dir, download=False, log=lambda *_: None).splits["train"]
    except UserError as error:
        raise UserError(f"--format onnx-int8 calibrates on {name}'s training pictures: {error}") from None
    return train.images[:INT8_CALIBRATION]


def compared(target: Path, kind: str, frames: np.ndarray, expected: np.ndarray) -> tuple[float, float]:
    """Run the export at ``target`` with its backend -> (the largest probability difference from
    Paddle's, the share of pictures whose top class is Paddle's)."""
    backend = BACKENDS[kind](target, device="cpu")
    got = np.concatenate([backend.probabilities(frames[start : start + 256]) for start in range(0, len(frames), 256)])
    return float(np.abs(got - expected).max()), float((got.argmax(axis=1) == expected.argmax(axis=1)).mean())


def export(
    checkpoint: str | os.PathLike,
    formats: tuple[str, ...] = ("onnx", "npz"),
    out: str | os.PathLike | None = None,
    legacy: bool = False,
    overwrite: bool = False,
    data_dir: str | None = None,
    log=print,
) -> dict[str, Path]:
    """Export ``checkpoint`` in each of ``formats``; -> {format: the file or folder written}.

    Everything a format needs (its tools, the calibration pictures) is checked before anything is
    written. Each export is then written to a temporary name, checked against the dynamic-graph
    model on real test pictures (``PARITY``) and renamed into place: one that fails leaves nothing.
    """
    from handwriting.backends import need_paddle

    need_paddle(f"{checkpoint}: exporting a checkpoint", otherwise="")
    from handwriting.checkpoint import load_model, stem, weights_path
    from handwriting.runtime import use_all_cores

    model, card = load_model(checkpoint)  # refuses a folder, an export, a picture ... in its own words
    checkpoint = weights_path(checkpoint)
    folder = Path(out) if out is not None else checkpoint.parent
    targets = {fmt: folder / f"{stem(checkpoint).name}{FORMAT_SUFFIX[fmt]}" for fmt in formats}
    for target in targets.values():
        if target.exists() and not overwrite:
            raise UserError(f"{target} is already there; add --overwrite to replace it")
    if folder.exists() and not folder.is_dir():
        raise UserError(f"--out {folder}: is a file; give a folder to write the exports into")
    if "npz" in formats:
        program_of(model, export_card(card, checkpoint, "npz"))  # a layer NumPy cannot run: refused before any writing
    if {"onnx", "onnx-int8"} & set(formats):
        _onnx_tools()
    calibration = None
    if "onnx-int8" in formats:
        _quantisation_tools()
        calibration = normalize(calibration_frames(card, data_dir))[:, None]  # [N, 1, 28, 28] in [-1, 1]
    use_all_cores()
    frames, described = parity_frames(card, data_dir)
    expected = probabilities_from(_paddle_outputs(model, frames), card["model"]["task"], len(card["classes"]))
    made_folder = not folder.exists()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        written = {}
        for fmt, target in targets.items():
            difference, agreement = _write_checked(
                fmt, target, model, export_card(card, checkpoint, fmt), legacy, calibration, frames, expected, described
            )
            if fmt == "onnx-int8":
                log(f"wrote {target} ({_size(target)}): Paddle's top class on {agreement:.1%} of {described} "
                    f"(probabilities within {difference:.2f})")  # fmt: skip
            else:
                size = _size(target)
                log(f"wrote {target} ({size}): probabilities within {difference:.1e} of Paddle's on {described}")
            written[fmt] = target
    except OSError as error:
        raise UserError(f"cannot write the exports into {folder}: {describe_os_error(error)}") from None
    finally:
        if made_folder and folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()  # a failure leaves no empty --out behind either
    return written


def _write_checked(fmt, target, model, card, legacy, calibration, frames, expected, described) -> tuple[float, float]:
    """Write one export through a temporary name, run it, and put it in place only if it passes
    -> (its largest probability difference from Paddle's, the share of Paddle's top classes it gives)."""
    from handwriting.atomic import atomic_folder, atomic_path

    if fmt == "paddle":
        place = atomic_folder(target, suffix=target.suffix)
    else:
        place = atomic_path(target, suffix=target.suffix)  # the suffix tells its backend what it is
    with place as temporary:
        temporary = Path(temporary)
        if fmt == "paddle":
            write_paddle(model, card, temporary, legacy)
            for file in temporary.iterdir():
                _synced(file)
        elif fmt == "onnx":
            _synced(temporary, onnx_bytes(model, card))
        elif fmt == "onnx-int8":
            _synced(temporary, int8_bytes(onnx_bytes(model, card), calibration))
        else:
            from handwriting.program import to_bytes

            _synced(temporary, to_bytes(program_of(model, card)))
        difference, agreement = compared(temporary, FORMAT_BACKEND[fmt], frames, expected)
        if fmt == "onnx-int8" and not agreement >= INT8_AGREEMENT:
            raise UserError(
                f"{target}: not written: 8 bits change its top class on {1 - agreement:.1%} of {described} "
                f"(at most {1 - INT8_AGREEMENT:.1%} allowed); use --format onnx"
            )
        if fmt != "onnx-int8" and not difference <= PARITY:
            why = (
                "the NumPy runtime does not reproduce this model (its forward may do more than call its layers "
                "in order); use --format onnx"
                if fmt == "npz"
                else "please report this with the checkpoint"
            )
            raise UserError(
                f"{target}: not written: its probabilities differ from Paddle's by up to {difference:.2g} "
                f"(more than {PARITY:g}) on {described}; {why}"
            )
    return difference, agreement


def _synced(path: Path, data: bytes | None = None) -> None:
    """Write ``data`` to ``path`` (or keep what is there) and flush it to disk before it is renamed
    into place, as ``handwriting.atomic.write_bytes`` does."""
    with open(path, "wb" if data is not None else "rb+") as file:
        if data is not None:
            file.write(data)
            file.flush()
        os.fsync(file.fileno())


def _paddle_outputs(model, frames: np.ndarray) -> np.ndarray:
    import paddle

    with paddle.no_grad():
        return np.concatenate(
            [
                model(paddle.to_tensor(normalize(frames[start : start + 500])[:, None])).numpy()
                for start in range(0, len(frames), 500)
            ]
        )


def _size(path: Path) -> str:
    size = sum(file.stat().st_size for file in path.rglob("*")) if path.is_dir() else path.stat().st_size
    return f"{size / 1e6:.1f} MB"


def _formats(text: str) -> tuple[str, ...]:
    """``--format onnx,npz`` -> ("onnx", "npz"), each once, each known."""
    names = tuple(dict.fromkeys(name.strip() for name in text.split(",") if name.strip()))
    unknown = [name for name in names if name not in FORMATS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"{text!r}: choose from {', '.join(FORMATS)}, comma-separated")
    return names


def main(argv: list[str] | None = None) -> int:
    quiet_paddle_import_warnings()
    parser = argparse.ArgumentParser(
        prog="python -m handwriting.export",
        description=__doc__.replace("``", ""),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("checkpoint", metavar="MODEL", help="a train.py checkpoint (.pdparams with its .json card)")
    parser.add_argument(
        "--format",
        type=_formats,
        default=("onnx", "npz"),
        metavar="LIST",
        help=f"what to write, comma-separated, from: {', '.join(FORMATS)} (paddle: Paddle Inference; onnx-int8: "
        "8-bit ONNX, faster, not exact; npz: NumPy) (default: onnx,npz, the two infer.py's auto backend runs)",
    )
    parser.add_argument("--out", metavar="DIR", help="the folder to write into (default: the checkpoint's own)")
    parser.add_argument("--legacy", action="store_true", help="with --format paddle: the old .pdmodel, for Paddle Lite")
    parser.add_argument("--overwrite", action="store_true", help="replace exports already there (default: refuse)")
    parser.add_argument(
        "--data-dir", metavar="DIR", help="where the test pictures are cached (default: the usual cache)"
    )
    args = parser.parse_args(argv)
    if args.legacy and "paddle" not in args.format:
        parser.error("--legacy is for --format paddle")

    def work() -> None:
        export(args.checkpoint, args.format, args.out, args.legacy, args.overwrite, args.data_dir)

    return run_at_the_edge(work, interrupted="interrupted: nothing was written for the export under way")


if __name__ == "__main__":
    sys.exit(main())
