"""handwriting.export and the backends that run its exports: every registry model, exported to
every format, gives Paddle's probabilities; each export carries its card and is refused once
its checkpoint's weights change; infer.py reads the same from every backend, without Paddle by
default; a bad NumPy program is one clear line."""

from __future__ import annotations

import contextlib
import json
import shutil
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import paddle
import pytest

import infer
from handwriting import program
from handwriting.backends import BACKENDS, DEFAULT_CHECKPOINT, ONNX_CARD_KEY, PADDLE_CARD, StaleExport, sha256_file
from handwriting.checkpoint import save_card, sha256_of
from handwriting.data import get_spec, load
from handwriting.data.store import check_cache, dataset_dir
from handwriting.errors import UserError
from handwriting.export import export
from handwriting.export import main as export_main
from handwriting.models import MODELS, build_model, resolved_options
from handwriting.preprocess import PREPROCESSORS, NoInkError
from handwriting.preprocess.pixels import NORMALISATION
from handwriting.recognise import collect, prepare
from handwriting.weights import state_bytes
from tests.conftest import REAL_ROOT
from tests.test_benches import bench_module

pytest.importorskip("paddle2onnx", reason="the export tools are not installed: pip install -r requirements-export.txt")

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "work"
TOLERANCE = 1e-4  # the largest difference in a class probability from Paddle's (export.PARITY)
OPTIONS = {"cnn": {"width": 4}}  # a narrow cnn exports in a fraction of a second; the rest as registered
FORMATS = ("paddle", "onnx", "npz")  # the exact ones (onnx-int8 is held to its top class only)
FORMAT_BACKEND = {"paddle": "inference", "onnx": "onnx", "npz": "numpy"}
EXPORT_SUFFIX = {"paddle": ".paddle", "onnx": ".onnx", "npz": ".npz"}
DIGITS = [str(digit) for digit in range(10)]


def write_checkpoint(path: Path, name: str, seed: int) -> Path:
    """An untrained ``name`` model saved as train.py saves one: the state dict as ``paddle.save``
    writes it, and a card naming the model, its options and the SHA-256 of those bytes.

    Paddle's initial weights give nearly uniform probabilities and a batch norm that does nothing,
    so the weights are drawn twice as wide as He's (outputs from near-uniform to near-certain), the
    batch norms' statistics and scales at random (the NumPy export folds them into the convolution),
    and the regression's bias puts its values among the digits rather than all at 0.
    """
    paddle.seed(seed)
    options = OPTIONS.get(name, {})
    model = build_model(name, **options)
    rng = np.random.default_rng(seed)

    def draw(parameter, scale: float) -> None:
        parameter.set_value(rng.normal(0, scale, parameter.shape).astype(np.float32))

    for layer in model.sublayers():
        if isinstance(layer, (paddle.nn.Linear, paddle.nn.Conv2D)):
            shape = layer.weight.shape  # Linear [in, out]; Conv2D [out, in, kh, kw]
            fan_in = shape[0] if isinstance(layer, paddle.nn.Linear) else int(np.prod(shape[1:]))
            draw(layer.weight, 2 / np.sqrt(fan_in))
            if layer.bias is not None:
                draw(layer.bias, 0.1)
        elif isinstance(layer, paddle.nn.BatchNorm2D):
            channels = layer._mean.shape[0]
            draw(layer._mean, 0.5)
            layer._variance.set_value(rng.uniform(0.5, 2.0, channels).astype(np.float32))
            layer.weight.set_value(rng.uniform(0.5, 1.5, channels).astype(np.float32))
            draw(layer.bias, 0.2)
    if name == "linreg":
        model.fc.bias.set_value(np.array([4.5], np.float32))
    data = state_bytes(model.state_dict())
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    card = {
        "model": {
            "name": name,
            "task": MODELS[name].task,
            "options": resolved_options(name, **options),
            "in_shape": [1, 28, 28],
        },
        "classes": DIGITS,
        "framing": "mnist",
        "normalisation": NORMALISATION,
        "dataset": {"name": "mnist"},
        "weights_sha256": sha256_of(data),
    }
    save_card(path.with_suffix(".json"), card)
    return path


def quiet(*_) -> None:
    """export()'s log, silenced."""


@pytest.fixture(scope="module")
def frames() -> np.ndarray:
    """uint8 frames [N, 28, 28]: the first 300 real MNIST test digits when they are cached, else
    the pictures in work/ prepared as infer.py prepares them, and those mirrored and transposed
    (parity needs inputs, not digits; 14 alone can all fall in one class of an untrained model)."""
    spec = get_spec("mnist")
    _, problems = check_cache(spec, dataset_dir(spec, REAL_ROOT))
    if not problems:
        return load(spec, REAL_ROOT, download=False).splits["test"].images[:300]
    prepared = np.stack([frame for frame, _, _ in map(prepare, [item.path for item in collect([str(WORK)])])])
    return np.concatenate([prepared, prepared[:, :, ::-1], prepared.transpose(0, 2, 1)])


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> dict[str, Path]:
    """Every registry model as a checkpoint, exported beside it in every format -> {name: checkpoint}."""
    folder = tmp_path_factory.mktemp("exported")
    checkpoints = {}
    for name in MODELS:
        # seed 1: every model's answers spread over 3+ classes (test_the_test_models_are_not_trivially_uniform)
        checkpoint = write_checkpoint(folder / f"{name}.pdparams", name, seed=1)
        written = export(checkpoint, FORMATS, out=folder, data_dir=REAL_ROOT, log=quiet)
        assert written == {fmt: folder / f"{name}{EXPORT_SUFFIX[fmt]}" for fmt in FORMATS}
        checkpoints[name] = checkpoint
    return checkpoints


@pytest.fixture(scope="module")
def paddle_probabilities(exported, frames) -> dict[str, np.ndarray]:
    """Each exported model's probabilities [N, 10] on ``frames``, from its checkpoint in Paddle."""
    return {
        name: BACKENDS["paddle"](checkpoint, device="cpu").probabilities(frames)
        for name, checkpoint in exported.items()
    }


# ----------------------------------------------------------------------------- every model, every format


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("name", list(MODELS))
def test_every_export_gives_paddles_probabilities(exported, frames, paddle_probabilities, name, fmt):
    checkpoint = exported[name]
    assert checkpoint.with_suffix(EXPORT_SUFFIX[fmt]).exists()
    backend = BACKENDS[FORMAT_BACKEND[fmt]](checkpoint, device="cpu")  # found beside it, checked fresh
    assert backend.name == FORMAT_BACKEND[fmt] and backend.path == checkpoint.with_suffix(EXPORT_SUFFIX[fmt])
    got, expected = backend.probabilities(frames), paddle_probabilities[name]
    assert got.shape == expected.shape == (len(frames), 10)
    np.testing.assert_allclose(got, expected, rtol=0, atol=TOLERANCE)
    if MODELS[name].task == "regress":  # one-hot rows: the digit its value rounds to
        np.testing.assert_array_equal(got.argmax(axis=1), expected.argmax(axis=1))
        assert len(set(expected.argmax(axis=1))) >= 3  # not every frame rounded to one digit


def test_the_test_models_are_not_trivially_uniform(paddle_probabilities):
    """Parity within 1e-4 means little for probabilities that are all 0.1: these are not."""
    for name, probabilities in paddle_probabilities.items():
        assert probabilities.max() > 0.4, name  # uniform would be 0.1
        assert len(set(probabilities.argmax(axis=1))) >= 3, name


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("name", list(MODELS))
def test_each_export_carries_its_card(exported, name, fmt):
    checkpoint = exported[name]
    target = checkpoint.with_suffix(EXPORT_SUFFIX[fmt])
    if fmt == "onnx":
        import onnxruntime

        session = onnxruntime.InferenceSession(str(target), providers=["CPUExecutionProvider"])
        card = json.loads(session.get_modelmeta().custom_metadata_map[ONNX_CARD_KEY])
    elif fmt == "npz":
        card = program.load(target).card
    else:
        card = json.loads((target / PADDLE_CARD).read_text())
    assert card["kind"] == fmt
    assert card["classes"] == DIGITS
    assert card["framing"] == "mnist"
    assert card["normalisation"] == NORMALISATION
    assert card["task"] == MODELS[name].task
    assert card["model"] == {"name": name, "options": resolved_options(name, **OPTIONS.get(name, {}))}
    assert card["source"] == {"checkpoint": checkpoint.name, "weights_sha256": sha256_file(checkpoint)}


def test_a_legacy_paddle_export_is_a_pdmodel_that_runs(tmp_path, frames, capsys):
    name = "cnn"
    checkpoint = write_checkpoint(tmp_path / f"{name}.pdparams", name, seed=3)
    assert export_main([str(checkpoint), "--format", "paddle", "--legacy", "--data-dir", str(REAL_ROOT)]) == 0
    out, _ = capsys.readouterr()
    assert out.startswith(f"wrote {tmp_path / f'{name}.paddle'} (") and "probabilities within" in out
    files = sorted(path.name for path in (tmp_path / f"{name}.paddle").iterdir())
    assert "inference.pdmodel" in files and "inference.json" not in files and PADDLE_CARD in files
    backend = BACKENDS["inference"](checkpoint, device="cpu")
    expected = BACKENDS["paddle"](checkpoint, device="cpu").probabilities(frames)
    np.testing.assert_allclose(backend.probabilities(frames), expected, rtol=0, atol=TOLERANCE)


def test_a_legacy_export_paddle_cannot_write_is_one_line_and_leaves_nothing(tmp_path, capsys):
    """Paddle 3.3's old-IR jit.save fails on tanh layers (LeNet-5's): one line, no folder left."""
    checkpoint = write_checkpoint(tmp_path / "lenet5.pdparams", "lenet5", seed=3)
    out_folder = tmp_path / "lite"
    status, out, err = run_export(
        capsys, checkpoint, "--format", "paddle", "--legacy", "--data-dir", REAL_ROOT, "--out", out_folder
    )
    assert (status, out) == (2, "")
    assert not out_folder.exists()  # not even an empty --out is left behind
    assert err.startswith("error: --legacy: Paddle ") and err.endswith("export it without --legacy\n")
    assert err.count("\n") == 1
    assert sorted(path.name for path in tmp_path.iterdir()) == ["lenet5.json", "lenet5.pdparams"]


def test_a_paddle_export_folder_can_be_entered(exported, tmp_path):
    """A .paddle folder written where none was gets a folder's usual permissions, as mkdir gives."""
    usual = tmp_path / "usual"
    usual.mkdir()
    folder = exported["softmax"].with_suffix(".paddle")
    assert stat.S_IMODE(folder.stat().st_mode) == stat.S_IMODE(usual.stat().st_mode)


# ----------------------------------------------------------------------------- refusals


def run_export(capsys, *argv) -> tuple[int, str, str]:
    status = export_main([str(arg) for arg in argv])
    out, err = capsys.readouterr()
    return status, out, err


def listing(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (hidden temporary ones too) with its bytes."""
    return {str(path.relative_to(folder)): path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}


def test_an_export_already_there_is_kept_without_overwrite(tmp_path, capsys):
    checkpoint = write_checkpoint(tmp_path / "softmax.pdparams", "softmax", seed=0)
    assert run_export(capsys, checkpoint, "--format", "onnx")[0] == 0
    write_checkpoint(checkpoint, "softmax", seed=1)  # trained again: --overwrite would write another .onnx
    before = listing(tmp_path)
    status, out, err = run_export(capsys, checkpoint, "--format", "npz,onnx")
    assert status == 2 and out == ""
    assert err == f"error: {tmp_path / 'softmax.onnx'} is already there; add --overwrite to replace it\n"
    assert listing(tmp_path) == before  # the .onnx unchanged, and no .npz either
    status, out, err = run_export(capsys, checkpoint, "--format", "onnx", "--overwrite")
    assert status == 0 and out.startswith(f"wrote {tmp_path / 'softmax.onnx'}")
    assert listing(tmp_path)["softmax.onnx"] != before["softmax.onnx"]
    assert BACKENDS["onnx"](checkpoint).card["source"]["weights_sha256"] == sha256_file(checkpoint)


def test_legacy_without_format_paddle_is_a_usage_error(tmp_path, capsys):
    checkpoint = write_checkpoint(tmp_path / "softmax.pdparams", "softmax", seed=0)
    before = listing(tmp_path)
    with pytest.raises(SystemExit) as stop:
        export_main([str(checkpoint), "--legacy", "--out", str(tmp_path / "out")])
    assert stop.value.code == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("usage: ")
    assert err.splitlines()[-1].endswith("error: --legacy is for --format paddle")
    assert listing(tmp_path) == before and not (tmp_path / "out").exists()


def test_a_missing_checkpoint_is_one_line(tmp_path, capsys):
    missing = tmp_path / "nothing.pdparams"
    status, out, err = run_export(capsys, missing, "--out", tmp_path / "out")
    assert status == 2 and out == ""
    assert err.startswith(f"error: {missing}: no such checkpoint") and err.count("\n") == 1
    assert not (tmp_path / "out").exists() and not any(path.is_file() for path in tmp_path.rglob("*"))


def test_an_out_that_cannot_hold_exports_is_one_line(tmp_path, capsys):
    checkpoint = write_checkpoint(tmp_path / "softmax.pdparams", "softmax", seed=0)
    (tmp_path / "a-file").write_text("not a folder")
    before = listing(tmp_path)
    status, out, err = run_export(capsys, checkpoint, "--out", tmp_path / "a-file", "--data-dir", REAL_ROOT)
    assert (status, out, err) == (
        2,
        "",
        f"error: --out {tmp_path / 'a-file'}: is a file; give a folder to write the exports into\n",
    )
    status, out, err = run_export(capsys, checkpoint, "--out", tmp_path / "a-file" / "below", "--data-dir", REAL_ROOT)
    assert (status, out) == (2, "") and err.startswith(
        f"error: cannot write the exports into {tmp_path / 'a-file' / 'below'}: "
    )
    assert listing(tmp_path) == before


# ----------------------------------------------------------------------------- staleness


def test_an_export_of_other_weights_is_stale_and_auto_falls_back(tmp_path, frames):
    checkpoint = write_checkpoint(tmp_path / "softmax.pdparams", "softmax", seed=0)
    export(checkpoint, ("onnx", "npz"), out=tmp_path, data_dir=REAL_ROOT, log=quiet)
    assert BACKENDS["auto"](checkpoint).name == "onnx"

    write_checkpoint(checkpoint, "softmax", seed=1)  # trained again: other weights, a valid checkpoint
    for kind in ("onnx", "numpy"):
        with pytest.raises(StaleExport, match="exported from other weights than .* export it again"):
            BACKENDS[kind](checkpoint)
    fallback = BACKENDS["auto"](checkpoint)
    assert fallback.name == "paddle" and fallback.path == checkpoint
    new = BACKENDS["paddle"](checkpoint, device="cpu").probabilities(frames)
    np.testing.assert_array_equal(fallback.probabilities(frames), new)

    export(checkpoint, ("onnx", "npz"), out=tmp_path, overwrite=True, data_dir=REAL_ROOT, log=quiet)
    fresh = BACKENDS["auto"](checkpoint)
    assert fresh.name == "onnx"
    np.testing.assert_allclose(fresh.probabilities(frames), new, rtol=0, atol=TOLERANCE)

    (tmp_path / "softmax.onnx").unlink()
    assert BACKENDS["auto"](checkpoint).name == "numpy"
    (tmp_path / "softmax.npz").unlink()
    assert BACKENDS["auto"](checkpoint).name == "paddle"


def test_the_shipped_exports_hold_the_shipped_weights():
    """models/cnn.onnx and .npz are what `python infer.py` runs: retraining models/cnn means exporting again."""
    for kind in ("onnx", "numpy"):
        card = BACKENDS[kind](DEFAULT_CHECKPOINT).card  # raises StaleExport if not
        assert card["source"]["weights_sha256"] == sha256_file(DEFAULT_CHECKPOINT)
    assert BACKENDS["auto"](DEFAULT_CHECKPOINT).name == "onnx"


# ----------------------------------------------------------------------------- infer.py on the shipped model


@pytest.fixture(scope="module")
def shipped_inference(tmp_path_factory) -> Path:
    """A copy of models/cnn with its Paddle Inference export beside it (nothing written in models/)."""
    folder = tmp_path_factory.mktemp("shipped")
    for suffix in (".pdparams", ".json"):
        shutil.copy(DEFAULT_CHECKPOINT.with_suffix(suffix), folder / f"cnn{suffix}")
    export(folder / "cnn.pdparams", ("paddle",), log=quiet)  # checked on work/'s pictures: no data root here
    return folder / "cnn.pdparams"


def infer_json(capsys, *argv) -> dict[str, dict[str, float]]:
    """``infer.py ARGV --json --topk 10`` -> {path: {label: probability}}, every picture read (a
    picture of several characters: {path#1: ..., path#2: ...}, one for each)."""
    status = infer.main([str(arg) for arg in argv] + ["--json", "--topk", "10"])
    out, err = capsys.readouterr()
    assert status == 0, err
    records = [json.loads(line) for line in out.splitlines()]
    assert all("error" not in record for record in records), records
    read = {}
    for record in records:
        if "characters" in record:
            for number, character in enumerate(record["characters"], 1):
                read[f"{record['path']}#{number}"] = dict(character["topk"])
        else:
            read[record["path"]] = dict(record["topk"])
    return read


@pytest.mark.parametrize("backend", ["onnx", "numpy", "auto", "inference"])
def test_infer_reads_work_alike_with_every_backend(shipped_inference, backend, capsys):
    expected = infer_json(capsys, WORK, "--backend", "paddle")
    model = ["--model", shipped_inference] if backend == "inference" else []
    got = infer_json(capsys, WORK, "--backend", backend, *model)
    assert len(expected) >= 14 and got.keys() == expected.keys()
    for path, probabilities in expected.items():
        assert max(got[path], key=got[path].get) == max(probabilities, key=probabilities.get), path
        assert got[path].keys() == probabilities.keys() == set(DIGITS)
        for label, probability in probabilities.items():
            assert abs(got[path][label] - probability) <= TOLERANCE, (path, label)


def test_redrawn_digits_are_read_alike_by_every_backend(real_mnist, shipped_inference):
    """The first 40 of bench/redrawn.py's photos of MNIST test digits, framed by infer.py's recipe."""
    bench = bench_module("redrawn")
    recorded = json.loads((ROOT / "bench" / "results" / "redrawn.json").read_text())
    test = real_mnist.splits["test"]
    _, photos, _ = bench.redrawn_test_digits(test.images, test.labels, recorded["count"], recorded["seed"], first=40)
    prepared = []
    for photo in photos:
        with contextlib.suppress(NoInkError):  # counted as not read, as the bench counts it
            prepared.append(PREPROCESSORS["mnist"](photo))
    frames = np.stack(prepared)
    assert len(frames) >= 35
    expected = BACKENDS["paddle"](DEFAULT_CHECKPOINT, device="cpu").probabilities(frames)
    for kind, model in [("onnx", None), ("numpy", None), ("auto", None), ("inference", shipped_inference)]:
        got = BACKENDS[kind](model or DEFAULT_CHECKPOINT, device="cpu").probabilities(frames)
        np.testing.assert_array_equal(got.argmax(axis=1), expected.argmax(axis=1), err_msg=kind)
        np.testing.assert_allclose(got, expected, rtol=0, atol=TOLERANCE, err_msg=kind)


# ----------------------------------------------------------------------------- without Paddle


NO_PADDLE = textwrap.dedent(
    """
    import runpy, sys

    class NoPaddle:
        asked = []

        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("paddle", "paddle2onnx"):
                NoPaddle.asked.append(name)
                raise ImportError(f"{name} is blocked by the test")
            return None

    sys.meta_path.insert(0, NoPaddle())
    sys.argv = ["infer.py", *sys.argv[1:]]
    try:
        runpy.run_path("infer.py", run_name="__main__")
    except SystemExit as stop:
        status = stop.code
    loaded = sorted(name for name in sys.modules if name.split(".")[0] == "paddle")
    print(f"asked for: {NoPaddle.asked}; loaded: {loaded}", file=sys.stderr)
    sys.exit(status)
    """
)


def test_infer_reads_a_picture_without_paddle_by_default():
    done = subprocess.run(
        [sys.executable, "-c", NO_PADDLE, "work/example_0.png"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("work/example_0.png: 0 (") and done.stdout.count("\n") == 1
    assert done.stderr.splitlines()[-1] == "asked for: []; loaded: []"


def test_without_paddle_a_checkpoint_that_needs_it_is_one_line(tmp_path):
    """A Paddle-free install runs exports; a checkpoint with none is refused in words, not a traceback."""
    for name in ("mlp.pdparams", "mlp.json"):
        (tmp_path / name).write_bytes((ROOT / "models" / name).read_bytes())
    checkpoint = tmp_path / "mlp.pdparams"
    done = subprocess.run(
        [sys.executable, "-c", NO_PADDLE, "work/example_0.png", "--model", str(checkpoint)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr.splitlines()[0] == (
        f"error: {checkpoint}: a train.py checkpoint runs only with PaddlePaddle, which is not installed here: "
        "python install.py (it adds the build that fits this machine), or run its ONNX or NumPy export "
        "(python -m handwriting.export, where Paddle is)"
    )


# ----------------------------------------------------------------------------- bad NumPy programs


def shipped_program() -> program.Program:
    return program.load(DEFAULT_CHECKPOINT.with_suffix(".npz"))


def without_card(path: Path) -> None:
    np.savez(path, **shipped_program().arrays())


def unknown_op(path: Path) -> None:
    shipped = shipped_program()
    steps = [dict(step) for step in shipped.card["steps"]]
    steps[2] = {"op": "gelu"}
    path.write_bytes(program.to_bytes(program.Program(shipped.steps, {**shipped.card, "steps": steps})))


def float64_array(path: Path) -> None:
    shipped = shipped_program()
    steps = [(op, settings, dict(arrays)) for op, settings, arrays in shipped.steps]
    steps[0][2]["weight"] = steps[0][2]["weight"].astype(np.float64)
    path.write_bytes(program.to_bytes(program.Program(steps, shipped.card)))


def extra_array(path: Path) -> None:
    shipped = shipped_program()
    arrays = {program.CARD_ENTRY: np.frombuffer(json.dumps(shipped.card).encode(), np.uint8), **shipped.arrays()}
    np.savez(path, **arrays, **{"99.weight": np.zeros(3, np.float32)})


def misfit_shapes(path: Path) -> None:
    shipped = shipped_program()
    steps = [(op, settings, dict(arrays)) for op, settings, arrays in shipped.steps]
    steps[0][2]["weight"] = np.concatenate([steps[0][2]["weight"]] * 2, axis=1)  # [O, 2, 3, 3] for 1 channel
    path.write_bytes(program.to_bytes(program.Program(steps, shipped.card)))


def op_not_a_name(path: Path) -> None:  # found by bench/fuzz.py: {"op": []} was a TypeError
    shipped = shipped_program()
    steps = [dict(step) for step in shipped.card["steps"]]
    steps[1] = {"op": []}
    path.write_bytes(program.to_bytes(program.Program(shipped.steps, {**shipped.card, "steps": steps})))


def array_bomb(path: Path) -> None:
    """A small file whose first weight declares 2**36 floats (256 GiB): refused from its header."""
    import io
    import zipfile

    shipped = shipped_program()
    entries = {program.CARD_ENTRY: np.frombuffer(json.dumps(shipped.card).encode(), np.uint8), **shipped.arrays()}
    with zipfile.ZipFile(path, "w") as archive:
        for name, array in entries.items():
            buffer = io.BytesIO()
            if name == "0.weight":
                np.lib.format.write_array_header_1_0(
                    buffer, {"descr": "<f4", "fortran_order": False, "shape": (2**36,)}
                )
                buffer.write(b"\0" * 64)
            else:
                np.save(buffer, array)
            archive.writestr(f"{name}.npy", buffer.getvalue())


def padded_over_and_over(path: Path) -> None:  # found in review: 61 kB that asked for gigabytes
    steps = [("conv2d", {"stride": 1, "padding": 64}, {"weight": np.ones((1, 1, 1, 1), np.float32)})] * 200
    card = {**shipped_program().card, "steps": [{"op": "conv2d", "stride": 1, "padding": 64}] * 200}
    path.write_bytes(program.to_bytes(program.Program(steps, card)))


BAD_PROGRAMS = {
    "an op that is not a name": (op_not_a_name, "step 1 is []; the ops known are conv2d, "),
    "an array of 256 GiB": (array_bomb, "0.weight: an array of shape (68719476736,)"),
    "no card": (without_card, "not an exported model (it has no card.json)"),
    "unknown op": (unknown_op, "step 2 is 'gelu'; the ops known are conv2d, "),
    "float64 array": (float64_array, "0.weight is float64, not float32"),
    "extra array": (extra_array, "arrays no step uses: 99.weight"),
    "shapes that do not fit": (
        misfit_shapes,
        "step 0 (conv2d): a weight of shape [24, 2, 3, 3] for inputs of shape [1, 28, 28]",
    ),
    "padding that grows without end": (padded_over_and_over, "padding 64 and kernel 1 on a 28x28 input"),
}


@pytest.mark.parametrize("case", list(BAD_PROGRAMS))
def test_a_bad_numpy_program_is_one_clear_line(tmp_path, case):
    make, words = BAD_PROGRAMS[case]
    path = tmp_path / "bad.npz"
    make(path)
    with pytest.raises(program.ProgramError) as raised:
        program.load(path)
    message = str(raised.value)
    assert isinstance(raised.value, UserError)
    assert message.startswith(f"{path}: ") and words in message and "\n" not in message


def test_an_export_card_with_a_framing_that_is_not_a_name_is_one_line(tmp_path):
    """Found by bench/fuzz.py: a card whose "framing" was a list ended in a TypeError."""
    shipped = shipped_program()
    path = tmp_path / "odd.npz"
    path.write_bytes(program.to_bytes(program.Program(shipped.steps, {**shipped.card, "framing": [None]})))
    with pytest.raises(UserError, match=r"its card names the framing '\[None\]'; this version knows mnist, "):
        BACKENDS["numpy"](path)


# ----------------------------------------------------------------------------- 8 bits


@pytest.fixture
def shipped_mlp(tmp_path, real_mnist) -> Path:
    """A copy of the shipped mlp (int8 needs trained weights: its gate is Paddle's top class)."""
    for suffix in (".pdparams", ".json"):
        shutil.copy(ROOT / "models" / f"mlp{suffix}", tmp_path / f"mlp{suffix}")
    return tmp_path / "mlp.pdparams"


def test_an_8_bit_export_gives_paddle_s_answers_not_its_probabilities(shipped_mlp, capsys):
    status, out, err = run_export(capsys, shipped_mlp, "--format", "onnx-int8", "--data-dir", REAL_ROOT)
    assert (status, err) == (0, "")
    target = shipped_mlp.with_name("mlp.int8.onnx")
    assert out.startswith(f"wrote {target} (") and "Paddle's top class on" in out
    backend = BACKENDS["onnx"](target)
    assert backend.card["kind"] == "onnx-int8" and backend.card["source"]["weights_sha256"] == sha256_file(shipped_mlp)
    test = load(get_spec("mnist"), REAL_ROOT, download=False).splits["test"]
    got = backend.probabilities(test.images[:2000]).argmax(axis=1)
    expected = BACKENDS["paddle"](shipped_mlp, device="cpu").probabilities(test.images[:2000]).argmax(axis=1)
    assert (got == expected).mean() >= 0.995
    assert BACKENDS["auto"](shipped_mlp).name == "paddle"  # 8 bits are never picked for a checkpoint


def test_an_8_bit_export_below_the_gate_is_not_written(shipped_mlp, capsys, monkeypatch):
    import handwriting.export as export_module

    monkeypatch.setattr(export_module, "INT8_AGREEMENT", 1.01)  # no export can pass
    before = listing(shipped_mlp.parent)
    status, out, err = run_export(capsys, shipped_mlp, "--format", "onnx-int8", "--data-dir", REAL_ROOT)
    assert (status, out) == (2, "")
    assert err.startswith(f"error: {shipped_mlp.with_name('mlp.int8.onnx')}: not written: 8 bits change its top class")
    assert listing(shipped_mlp.parent) == before  # nothing, not even a temporary file


def test_the_regression_rule_is_paddle_s():
    """The one-hot rule the backends apply to the regression baseline is models.decide's: Paddle
    rounds halves to even, clips to the classes."""
    from handwriting.backends import probabilities_from
    from handwriting.models import decide

    values = np.array([[-3.0], [-0.5], [0.49], [0.5], [1.5], [2.5], [3.5], [8.5], [9.5], [12.0]], np.float32)
    predicted, _ = decide("regress", paddle.to_tensor(values), 10)
    np.testing.assert_array_equal(probabilities_from(values, "regress", 10).argmax(axis=1), predicted.numpy())


def test_an_onnx_export_whose_card_has_other_classes_is_one_line(tmp_path):
    """Found in review: an ONNX card edited to 3 classes on the 10-output cnn was an IndexError later."""
    import onnx

    graph = onnx.load(str(DEFAULT_CHECKPOINT.with_suffix(".onnx")))
    entry = next(entry for entry in graph.metadata_props if entry.key == ONNX_CARD_KEY)
    entry.value = json.dumps({**json.loads(entry.value), "classes": ["a", "b", "c"]})
    path = tmp_path / "edited.onnx"
    onnx.save(graph, str(path))
    with pytest.raises(
        UserError, match=r"its model gives \[10\] outputs for the 3 classes on its card; export it again"
    ):
        BACKENDS["onnx"](path)
