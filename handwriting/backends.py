"""The ways to run a model on prepared pictures, in a small registry (``BACKENDS``).

    paddle     a train.py checkpoint (.pdparams + .json card), in Paddle's dynamic graph
    inference  its Paddle Inference export (a .paddle folder), run by Paddle's C++ predictor
    onnx       its ONNX export (.onnx), run by onnxruntime: no Paddle at all
    numpy      its NumPy export (.npz), or a NumPy network of handwriting.scratch: nothing but NumPy
    auto       onnx, else numpy, else paddle: the first installed that holds these very weights

Every backend takes the same uint8 frames [N, 28, 28] (white ink on black, as ``infer.py``'s
preprocessing makes them) and gives class probabilities [N, C], with the class labels and the
framing its card names. Exports are made by ``python -m handwriting.export``; each carries an
export card that records the SHA-256 of the weights it was made from, so an export left behind
by an earlier training run is never mistaken for the checkpoint beside it.

Only ``paddle`` and ``inference`` import Paddle (about 1 s): ``auto`` picks onnx, then numpy,
when their export of the checkpoint is there, and ``python infer.py one.png`` answers in a
quarter of the time. (onnx before numpy: it starts about as quickly and reads batches 8x as fast;
Paddle Inference reads batches about as fast as onnxruntime, but only after Paddle has loaded.)
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Callable

import numpy as np

from handwriting.data.registry import DATASETS
from handwriting.errors import UserError, counted, require_paddle
from handwriting.preprocess import MNIST_SIZE, normalize
from handwriting.preprocess.frame import FRAMINGS
from handwriting.runtime import available_cores

MODELS_DIR = Path(__file__).resolve().parent.parent / "models"
DEFAULT_CHECKPOINT = MODELS_DIR / "cnn.pdparams"  # every backend's default: its export of this
EXPORT_FORMAT = "handwriting.export/1"
# The file (or folder) each kind of export has, beside the checkpoint it was made from.
EXPORT_SUFFIXES = {"inference": ".paddle", "onnx": ".onnx", "numpy": ".npz"}
INT8_SUFFIX = ".int8.onnx"  # handwriting.export --format onnx-int8 writes <checkpoint>.int8.onnx
ONNX_CARD_KEY = "handwriting.card"  # the ONNX model's metadata entry holding the export card
PADDLE_CARD = "card.json"  # in a .paddle folder, beside inference.json (or .pdmodel) and inference.pdiparams


def card_framing(card: dict, path: str | os.PathLike) -> str:
    """How pictures are framed for this model: its card's "framing" (what its data was trained on),
    else its dataset's, else MNIST's (cards written before datasets had framings)."""
    dataset = card.get("dataset")
    name = dataset.get("name") if isinstance(dataset, dict) else None
    known = isinstance(name, str) and name in DATASETS
    framing = card.get("framing") or (DATASETS[name].framing if known else "mnist")
    if not isinstance(framing, str) or framing not in FRAMINGS:
        shown = framing if isinstance(framing, str) else str(framing)[:40]
        raise UserError(f"{path}: its card names the framing {shown!r}; this version knows {', '.join(FRAMINGS)}")
    return framing


def probabilities_from(outputs: np.ndarray, task: str, num_classes: int) -> np.ndarray:
    """A model's outputs -> class probabilities [N, C] (float32).

    Classifiers: softmax of the logits [N, C]. The regression baseline's one value [N, 1] has no
    probabilities: it becomes a one-hot row for its value rounded (halves to even, as Paddle's
    ``round``) and clipped to a class, the rule ``handwriting.models.decide`` applies.
    """
    outputs = outputs.astype(np.float64)
    if task == "regress":
        value = np.nan_to_num(outputs[:, 0], nan=0.0)  # a diverged model's NaN reads as the first class
        classes = np.clip(np.rint(value), 0, num_classes - 1).astype(int)
        return np.eye(num_classes, dtype=np.float32)[classes]
    exponentials = np.exp(outputs - outputs.max(axis=1, keepdims=True))
    return (exponentials / exponentials.sum(axis=1, keepdims=True)).astype(np.float32)


class Backend:
    """What every backend has: ``classes``, ``framing``, ``task``, ``card`` and ``outputs``."""

    name = ""
    device = "cpu"
    classes: list[str]
    framing: str
    task: str = "classify"
    card: dict
    path: Path  # the file (or folder) it runs

    @property
    def has_confidence(self) -> bool:
        return self.task == "classify"

    def outputs(self, inputs: np.ndarray) -> np.ndarray:
        """float32 [N, 1, 28, 28] in [-1, 1] -> the model's outputs [N, C] (or [N, 1] for regression)."""
        raise NotImplementedError

    def probabilities(self, frames: np.ndarray) -> np.ndarray:
        """uint8 frames [N, 28, 28] (white ink on black) -> class probabilities [N, C]."""
        return probabilities_from(self.outputs(normalize(frames)[:, None]), self.task, len(self.classes))

    def _check_outputs(self) -> None:
        """Run one blank picture: an export whose model gives another number of outputs than its
        card has classes (a card edited, or taken from another model) is refused here, in words."""
        try:
            shape = np.shape(self.outputs(np.full((1, 1, MNIST_SIZE, MNIST_SIZE), -1.0, np.float32)))
        except Exception as error:  # the runtime's own exception types: the file's fault
            raise UserError(
                f"{self.path}: it fails on a blank picture ({type(error).__name__}: {_first_line(error)})"
            ) from None
        expected = (1, 1 if self.task == "regress" else len(self.classes))
        if tuple(shape) != expected:
            raise UserError(
                f"{self.path}: its model gives {list(shape[1:])} outputs for the {len(self.classes):,} classes "
                "on its card; export it again"
            )


# ----------------------------------------------------------------------------- Paddle


class PaddleBackend(Backend):
    """A checkpoint written by ``train.py``, run by Paddle in dynamic-graph mode."""

    name = "paddle"

    def __init__(self, checkpoint: str | os.PathLike, device: str = "auto", threads: int | None = None):
        need_paddle(f"{checkpoint}: a train.py checkpoint")
        from handwriting.checkpoint import load_model
        from handwriting.runtime import pick_device, use_all_cores

        kind = next((kind for kind, suffix in EXPORT_SUFFIXES.items() if suffix == Path(checkpoint).suffix), None)
        if kind is not None:
            raise UserError(f"{checkpoint} is {KIND_NAMES[kind]}: run it with --backend {kind} (or auto)")
        self.device = pick_device(device)
        if threads is not None and self.device == "cpu":
            use_all_cores(threads)
        self.model, self.card = load_model(checkpoint)
        self.path = Path(checkpoint)
        _check_in_shape(self.card["model"]["in_shape"], checkpoint)
        self.classes: list[str] = list(self.card["classes"])
        self.framing = card_framing(self.card, checkpoint)
        self.task: str = self.card["model"]["task"]

    def outputs(self, inputs: np.ndarray) -> np.ndarray:
        import paddle

        with paddle.no_grad():
            return self.model(paddle.to_tensor(inputs)).numpy()  # [N, 1, 28, 28] in [-1, 1] -> [N, C]


def need_paddle(
    what: str, otherwise: str = "run its ONNX or NumPy export (python -m handwriting.export, where Paddle is)"
) -> None:
    """Import Paddle, or say in one line that ``what`` needs it (a Paddle-free install runs exports)."""
    require_paddle(what, otherwise)


def _check_in_shape(in_shape, where) -> None:
    if list(in_shape) != [1, MNIST_SIZE, MNIST_SIZE]:
        raise UserError(
            f"{where}: its model takes {list(in_shape)} inputs; "
            f"infer.py prepares pictures as [1, {MNIST_SIZE}, {MNIST_SIZE}]"
        )


# ----------------------------------------------------------------------------- exports


def sha256_file(path: str | os.PathLike) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()  # a checkpoint: a few MB at most


def export_path(path: str | os.PathLike, kind: str) -> Path:
    """Where the ``kind`` export of a checkpoint lies: ``models/cnn.pdparams`` -> ``models/cnn.onnx``.
    A path that already names such an export is itself."""
    from handwriting.filenames import stem

    path = Path(path)
    if path.suffix == EXPORT_SUFFIXES[kind]:
        return path
    return Path(f"{stem(path)}{EXPORT_SUFFIXES[kind]}")


def checkpoint_beside(path: str | os.PathLike) -> Path | None:
    """The train.py checkpoint an export was asked for by (``--model models/cnn.pdparams``, its card
    or its stem), or None when the export itself was named (``--model models/cnn.onnx``)."""
    from handwriting.filenames import weights_path

    path = Path(path)
    if path.name.endswith(INT8_SUFFIX):  # an 8-bit export is checked against its checkpoint, named or not
        return weights_path(path.with_name(path.name[: -len(INT8_SUFFIX)]))
    return None if path.suffix in EXPORT_SUFFIXES.values() else weights_path(path)


def check_export_card(card, where: str | os.PathLike) -> dict:
    """An export card (parsed JSON) -> itself, with everything a backend reads from it checked."""
    from handwriting.preprocess.pixels import NORMALISATION

    def wrong(problem: str) -> UserError:
        return UserError(f"{where}: its export card {problem}; export it again with python -m handwriting.export")

    if not isinstance(card, dict) or card.get("format") != EXPORT_FORMAT:
        raise UserError(
            f"{where}: not an export of this project ({EXPORT_FORMAT}); make one with python -m handwriting.export"
        )
    classes = card.get("classes")
    if not isinstance(classes, list) or not classes or not all(isinstance(label, str) for label in classes):
        raise wrong('has no list of class labels ("classes")')
    if card.get("task") not in ("classify", "regress"):
        raise wrong(f'names an unknown "task" ({str(card.get("task"))[:40]!r})')
    in_shape = card.get("in_shape")
    if not isinstance(in_shape, list) or not all(type(side) is int for side in in_shape):
        raise wrong('has no input shape ("in_shape")')
    _check_in_shape(in_shape, where)
    if card.get("normalisation") != NORMALISATION:  # the only one infer.py's preprocessing gives
        raise wrong(f'asks for another input normalisation than "{NORMALISATION}"')
    source = card.get("source")
    if not isinstance(source, dict) or not isinstance(source.get("weights_sha256"), str):
        raise wrong('does not say which weights it was made from ("source")')
    if not isinstance(card.get("kind"), str):
        raise wrong('does not say which format it is ("kind")')
    return card


def _check_fresh(export: Path, card: dict, checkpoint: Path | None) -> None:
    """Refuse an export made from other weights than the checkpoint it was asked for by."""
    if checkpoint is None or not checkpoint.is_file():
        return
    if card["source"]["weights_sha256"] != sha256_file(checkpoint):
        raise StaleExport(
            f"{export} was exported from other weights than {checkpoint} (trained again since?); export it again: "
            f"python -m handwriting.export {checkpoint} --format {card['kind']} --overwrite"
        )


def _again(export: Path, checkpoint: Path | None, kind: str) -> str:
    """What to do about a damaged export: make it again (from its checkpoint, when known)."""
    if checkpoint is None and export.with_suffix(".pdparams").is_file():  # named directly, its checkpoint beside it
        checkpoint = export.with_suffix(".pdparams")
    source = checkpoint if checkpoint is not None else "CHECKPOINT"
    return f"export it again: python -m handwriting.export {source} --format {EXPORT_KIND_FORMAT[kind]} --overwrite"


class StaleExport(UserError):
    """An export beside a checkpoint that was made from other weights."""


class MissingExport(UserError):
    """A checkpoint has no export of the kind asked for."""


def _find_export(path: str | os.PathLike, kind: str, format_name: str) -> tuple[Path, Path | None]:
    """(the export to run, the checkpoint it must match or None) for ``--model path``."""
    suffix = Path(path).suffix
    other = next((name for name, ending in EXPORT_SUFFIXES.items() if ending == suffix and name != kind), None)
    if other is not None:
        raise UserError(f"{path} is {KIND_NAMES[other]}: run it with --backend {other} (or auto)")
    export, checkpoint = export_path(path, kind), checkpoint_beside(path)
    if not export.exists():
        if checkpoint is not None:
            raise MissingExport(
                f"{export}: no {format_name} export of {checkpoint}; make it with: "
                f"python -m handwriting.export {checkpoint} --format {EXPORT_KIND_FORMAT[kind]}"
            )
        raise MissingExport(f"{export}: no such file")
    return export, checkpoint


KIND_NAMES = {"inference": "a Paddle Inference export", "onnx": "an ONNX model", "numpy": "a NumPy model"}
EXPORT_KIND_FORMAT = {"inference": "paddle", "onnx": "onnx", "numpy": "npz"}  # backend -> export --format


class OnnxBackend(Backend):
    """An ONNX export, run by onnxruntime on the CPU: no Paddle."""

    name = "onnx"

    def __init__(self, path: str | os.PathLike, device: str = "auto", threads: int | None = None):
        try:
            import onnxruntime
        except ImportError:
            raise UserError("--backend onnx needs onnxruntime: pip install onnxruntime") from None
        if device == "gpu":
            raise UserError(
                "an ONNX model runs on the CPU here (onnxruntime); for the GPU run its checkpoint with --backend paddle"
            )
        export, checkpoint = _find_export(path, "onnx", "ONNX")
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads or available_cores()
        options.log_severity_level = 3  # errors only: not its notes on unused initialisers
        try:
            self.session = onnxruntime.InferenceSession(str(export), options, providers=["CPUExecutionProvider"])
        except Exception as error:  # onnxruntime raises its own exception types for a bad file
            raise UserError(
                f"{export}: onnxruntime cannot load it ({type(error).__name__}: {_first_line(error)}); "
                + _again(export, checkpoint, "onnx")
            ) from None
        metadata = self.session.get_modelmeta().custom_metadata_map
        try:
            card = json.loads(metadata[ONNX_CARD_KEY])
        except (KeyError, ValueError, RecursionError):
            raise UserError(
                f"{export}: an ONNX model without this project's card; export it with python -m handwriting.export"
            ) from None
        self.card = check_export_card(card, export)
        _check_fresh(export, self.card, checkpoint)
        self.path = export
        self.input_name = self.session.get_inputs()[0].name
        self.classes, self.task = list(self.card["classes"]), self.card["task"]
        self.framing = card_framing(self.card, export)
        self._check_outputs()

    def outputs(self, inputs: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input_name: inputs.astype(np.float32, copy=False)})[0]


def _first_line(error: BaseException) -> str:
    from handwriting.errors import one_line

    return one_line(error, 160)


class InferenceBackend(Backend):
    """A Paddle Inference export (``.paddle`` folder), run by Paddle's C++ predictor."""

    name = "inference"

    def __init__(self, path: str | os.PathLike, device: str = "auto", threads: int | None = None):
        from handwriting.runtime import pick_device

        export, checkpoint = _find_export(path, "inference", "Paddle Inference")
        card_file = export / PADDLE_CARD
        try:
            card = json.loads(card_file.read_bytes())
        except (OSError, ValueError, RecursionError) as error:
            raise UserError(f"{card_file}: cannot read the export card ({_first_line(error)})") from None
        self.card = check_export_card(card, export)
        _check_fresh(export, self.card, checkpoint)
        program = next(
            (export / name for name in ("inference.json", "inference.pdmodel") if (export / name).is_file()), None
        )
        if program is None or not (export / "inference.pdiparams").is_file():
            raise UserError(f"{export}: it lacks inference.json (or .pdmodel) and inference.pdiparams; export it again")
        need_paddle(f"{export}: a Paddle Inference export")
        import paddle.inference

        self.device = pick_device(device)
        config = paddle.inference.Config(str(program), str(export / "inference.pdiparams"))
        config.disable_glog_info()
        if self.device == "gpu":
            config.enable_use_gpu(256, 0)
        else:
            config.disable_gpu()
            config.set_cpu_math_library_num_threads(threads or available_cores())
        self.predictor = paddle.inference.create_predictor(config)
        self.input = self.predictor.get_input_handle(self.predictor.get_input_names()[0])
        self.output = self.predictor.get_output_handle(self.predictor.get_output_names()[0])
        self.path = export
        self.classes, self.task = list(self.card["classes"]), self.card["task"]
        self.framing = card_framing(self.card, export)
        self._check_outputs()

    def outputs(self, inputs: np.ndarray) -> np.ndarray:
        self.input.reshape(list(inputs.shape))
        self.input.copy_from_cpu(np.ascontiguousarray(inputs, dtype=np.float32))
        self.predictor.run()
        return self.output.copy_to_cpu()


# ----------------------------------------------------------------------------- NumPy


class NumpyBackend(Backend):
    """A NumPy export (``python -m handwriting.export ... --format npz``), or a NumPy network of
    ``handwriting.scratch`` (or converted by ``handwriting.bridge``): nothing but NumPy."""

    name = "numpy"

    def __init__(self, path: str | os.PathLike, device: str = "auto", threads: int | None = None):
        from handwriting import program

        if device == "gpu":
            raise UserError("a NumPy model runs on the CPU; for the GPU run its checkpoint with --backend paddle")
        export, checkpoint = _find_export(path, "numpy", "NumPy")
        self.path = export
        self.program, self.net = None, None
        try:
            kind = program.npz_kind(export)
        except program.ProgramError as error:
            raise program.ProgramError(f"{error}; {_again(export, checkpoint, 'numpy')}") from None
        if checkpoint is not None and checkpoint.is_file() and kind != "program":
            # asked for by a checkpoint's name: only its own export will do, not a NumPy network
            raise MissingExport(f"{export} is a NumPy network, not an export of {checkpoint}")
        if kind == "program":
            try:
                self.program = program.load(export)
            except program.ProgramError as error:
                raise program.ProgramError(f"{error}; {_again(export, checkpoint, 'numpy')}") from None
            self.card = check_export_card(self.program.card, export)
            _check_fresh(export, self.card, checkpoint)
            self.classes, self.task = list(self.card["classes"]), self.card["task"]
        else:  # a NumPy network: the .npz and its card beside it
            self._load_network(export)
        self.framing = card_framing(self.card, export)

    def _load_network(self, network_file: Path) -> None:
        from handwriting.scratch.files import load
        from handwriting.scratch.train import INPUTS

        self.net, self.card = load(network_file)  # the whole card checked: its inputs, classes, network
        first = next(layer for layer in self.net.layers if layer.params)
        inputs = first.params["weight"].shape[0]
        if inputs != MNIST_SIZE * MNIST_SIZE:
            raise UserError(
                f"{network_file}: its network takes {counted(inputs, 'input')}; infer.py prepares "
                f"pictures as {MNIST_SIZE}x{MNIST_SIZE} = {MNIST_SIZE * MNIST_SIZE}"
            )
        self.classes = list(self.card["classes"])
        self.scale = INPUTS[self.card["inputs"]]  # a NumPy network scales pixels its own way
        self.sigmoid_output = bool(self.card["network"].get("sigmoid_output"))

    def outputs(self, inputs: np.ndarray) -> np.ndarray:
        if self.program is None:
            raise TypeError("a NumPy network scales its own inputs: call probabilities(frames)")
        return self.program.forward(inputs)

    def probabilities(self, frames: np.ndarray) -> np.ndarray:
        if self.net is None:
            return super().probabilities(frames)
        outputs = self.net.forward(self.scale(frames)).astype(np.float64)
        if self.sigmoid_output:  # trained with squared error: sigmoid outputs, scaled to sum to 1
            return outputs / outputs.sum(axis=1, keepdims=True)
        return probabilities_from(outputs, "classify", len(self.classes))


# ----------------------------------------------------------------------------- choosing one


def _auto(path: str | os.PathLike, device: str = "auto", threads: int | None = None) -> Backend:
    """The backend that answers first for ``path``: an export named directly runs with its own kind;
    a checkpoint runs from its ONNX export (with onnxruntime installed), else its NumPy export,
    else with Paddle, each export only if it was made from the checkpoint's current weights.
    A GPU asked for (``--device gpu``) means Paddle."""
    suffix = Path(path).suffix
    for kind, export_suffix in EXPORT_SUFFIXES.items():
        if suffix == export_suffix:
            return BACKENDS[kind](path, device=device, threads=threads)
    stale: StaleExport | None = None
    if device != "gpu":
        for kind in ("onnx", "numpy"):
            if kind == "onnx" and not _has_onnxruntime():
                continue
            try:
                return BACKENDS[kind](path, device="cpu", threads=threads)
            except MissingExport:
                continue
            except StaleExport as error:
                stale = stale or error
    try:
        backend = PaddleBackend(path, device=device, threads=threads)
    except UserError:
        if stale is not None:  # e.g. no Paddle here: the stale export is what to fix
            raise stale from None
        raise
    if stale is not None:  # Paddle answers, a second slower: say why, once
        print(f"note: {stale}", file=sys.stderr)
    return backend


def _has_onnxruntime() -> bool:
    import importlib.util

    return importlib.util.find_spec("onnxruntime") is not None


BACKENDS: dict[str, Callable[..., Backend]] = {
    "auto": _auto,
    "paddle": PaddleBackend,
    "inference": InferenceBackend,
    "onnx": OnnxBackend,
    "numpy": NumpyBackend,
}


def make_backend(
    name: str, model: str | os.PathLike | None = None, device: str = "auto", threads: int | None = None
) -> Backend:
    """The backend ``name`` running ``model`` (default: models/cnn.pdparams, or its export) on
    ``threads`` CPU threads (default: every core; NumPy uses what its BLAS uses)."""
    if name not in BACKENDS:
        raise UserError(f"unknown --backend {name!r}; choose one of: {', '.join(BACKENDS)}")
    return BACKENDS[name](DEFAULT_CHECKPOINT if model is None else model, device=device, threads=threads)
