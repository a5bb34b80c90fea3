"""Weights are data, never code: a crafted .pdparams or .pdopt runs nothing, through any entry point,
while every file paddle.save writes (and the shipped models) still loads."""

from __future__ import annotations

import collections
import hashlib
import json
import os
import pickle
import subprocess
from pathlib import Path

import numpy as np
import paddle
import pytest

import infer as infer_script
import train as train_script
from handwriting import bridge, checkpoint, evaluate
from handwriting.config import TrainConfig
from handwriting.engine import fit
from handwriting.runs import RunError
from handwriting.weights import WeightsError, read_state, write_state

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ["cnn", "mlp", "mlp-sigmoid"]


class Payload:
    """Pickles as a call of ``function(*arguments)``: what a malicious checkpoint does on load."""

    def __init__(self, function, *arguments):
        self.function, self.arguments = function, arguments

    def __reduce__(self):
        return self.function, self.arguments


def payloads(marker: Path) -> dict[str, Payload]:
    """Ways a pickle can run code; each one, if it ran, would create ``marker``."""
    return {
        "os.system": Payload(os.system, f"touch {marker}"),
        "exec": Payload(exec, f"open({str(marker)!r}, 'w').close()"),
        "open": Payload(open, str(marker), "w"),
        "eval": Payload(eval, f"open({str(marker)!r}, 'w')"),
        "subprocess": Payload(subprocess.call, ["touch", str(marker)]),
    }


def malicious_copy(shipped: str, folder: Path, marker: Path, payload: str) -> Path:
    """The shipped model's real weights and card, with a payload riding along in the weights file:
    before, such a file ran its payload *and* printed the right answer. The card records the evil
    file's SHA-256, as an attacker's would, so only the weights reader stands in the way."""
    folder.mkdir(parents=True, exist_ok=True)
    state = read_state(ROOT / f"models/{shipped}.pdparams")
    state["zz"] = payloads(marker)[payload]
    weights = folder / f"{shipped}.pdparams"
    weights.write_bytes(pickle.dumps(state, protocol=4))
    card = json.loads((ROOT / f"models/{shipped}.json").read_text())
    if "weights_sha256" in card:
        card["weights_sha256"] = hashlib.sha256(weights.read_bytes()).hexdigest()
    (folder / f"{shipped}.json").write_text(json.dumps(card))
    return weights


@pytest.mark.parametrize("shipped", SHIPPED)
def test_the_shipped_models_read_as_paddle_reads_them(shipped):
    ours = read_state(ROOT / f"models/{shipped}.pdparams")
    theirs = paddle.load(str(ROOT / f"models/{shipped}.pdparams"))  # trusted: our own shipped file
    assert ours.keys() == theirs.keys()
    for key in ours:
        assert ours[key].dtype == theirs[key].numpy().dtype
        np.testing.assert_array_equal(ours[key], theirs[key].numpy(), err_msg=key)


@pytest.mark.parametrize("options", [{}, {"protocol": 2}, {"protocol": 3}, {"safetensors": True}])
def test_every_format_paddle_save_writes_is_read(tmp_path, options):
    model = paddle.nn.Sequential(paddle.nn.Linear(4, 3), paddle.nn.BatchNorm1D(3))
    paddle.save(model.state_dict(), str(tmp_path / "m.pdparams"), **options)
    state = read_state(tmp_path / "m.pdparams")
    assert state.keys() == model.state_dict().keys()
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(state[key], value.numpy())


def test_what_we_write_plain_paddle_reads(tmp_path):
    model = paddle.nn.Linear(4, 3)
    write_state(tmp_path / "m.pdparams", model.state_dict())
    loaded = paddle.load(str(tmp_path / "m.pdparams"))
    np.testing.assert_array_equal(loaded["weight"].numpy(), model.weight.numpy())


def test_an_optimizer_state_with_its_schedule_reads(tmp_path):
    model = paddle.nn.Linear(3, 2)
    schedule = paddle.optimizer.lr.OneCycleLR(max_learning_rate=0.01, total_steps=10)
    optimizer = paddle.optimizer.AdamW(schedule, parameters=model.parameters())
    model(paddle.ones([1, 3])).sum().backward()
    optimizer.step()
    schedule.step()
    write_state(tmp_path / "o.pdopt", optimizer.state_dict())
    state = read_state(tmp_path / "o.pdopt", "optimizer state")
    assert state["LR_Scheduler"] == optimizer.state_dict()["LR_Scheduler"]
    assert {key for key in state if key != "LR_Scheduler"} == {key for key in optimizer.state_dict() if "LR" not in key}


@pytest.mark.parametrize("payload", ["os.system", "exec", "open", "eval", "subprocess"])
def test_a_pickle_that_calls_anything_is_refused_and_runs_nothing(tmp_path, payload):
    marker = tmp_path / "ran"
    path = tmp_path / "evil.pdparams"
    path.write_bytes(pickle.dumps({"weight": payloads(marker)[payload]}, protocol=4))
    with pytest.raises(WeightsError, match=r"evil.pdparams: refused, not plain weights: it asks to run .+"):
        read_state(path)
    assert not marker.exists()


@pytest.mark.parametrize(
    "content,problem",
    [
        (pickle.dumps([1, 2], protocol=4), "it holds a list, not a state dict"),
        (pickle.dumps({"w": np.array([1, "a"], dtype=object)}, protocol=4), "arrays of object, not numbers"),
        (pickle.dumps({1: np.zeros(2)}, protocol=4), "it holds a dict, not a state dict"),
        (b"not a checkpoint", "neither paddle.save's format nor safetensors"),
        (b"", "neither paddle.save's format nor safetensors"),
        (pickle.dumps({"w": np.zeros(3)}, protocol=4)[:-20], "not a readable Paddle checkpoint"),
        # np.ndarray((10**13,)) called by the file: would ask for 10 TB before anything could check it.
        (pickle.dumps({"w": Payload(np.ndarray, (10**13,))}, protocol=4), "not a readable Paddle checkpoint"),
        (pickle.dumps({"w": Payload(np.empty, (10**13,))}, protocol=4), "it asks to run 'numpy"),
    ],
)
def test_files_that_are_not_plain_state_dicts_get_one_line(tmp_path, content, problem):
    path = tmp_path / "x.pdparams"
    path.write_bytes(content)
    with pytest.raises(WeightsError) as raised:
        read_state(path)
    assert problem in str(raised.value) and "\n" not in str(raised.value)


class Plain:
    """An ordinary class: protocol 2+ pickles it with NEWOBJ (``copyreg.__newobj__``)."""


@pytest.mark.parametrize(
    "content,problem",
    [
        (pickle.dumps({"w": Plain()}, protocol=4), "it uses pickle's NEWOBJ instruction"),
        (pickle.dumps({"w": bytearray(b"abc")}, protocol=5), "it uses pickle's BYTEARRAY8 instruction"),
        # Found by the fuzzer: a bytearray claiming 1.4 TB; CPython printed a SystemError on its way out.
        (b"\x80\x04\x95" + bytes(8) + b"}\x96" + (1479398345546).to_bytes(8, "little") + b"abc", "bytearray8"),
    ],
)
def test_instructions_a_state_dict_never_uses_are_refused_before_unpickling(tmp_path, content, problem, capfd):
    path = tmp_path / "x.pdparams"
    path.write_bytes(content)
    with pytest.raises(WeightsError, match=problem):
        read_state(path)
    assert capfd.readouterr() == ("", "")


class Dtype:
    """Pickles as ``numpy.dtype(code)`` followed by whatever state the file chooses."""

    def __init__(self, code, state):
        self.code, self.state = code, state

    def __reduce__(self):
        return np.dtype, (self.code, False, True), self.state


class Array:
    """Pickles as ``numpy`` does an array, with whatever state the file chooses."""

    def __init__(self, state):
        self.state = state

    def __reduce__(self):
        return np.ndarray.__reduce__(np.zeros(0))[0], (np.ndarray, (0,), b"b"), self.state


def shared_lists(levels: int = 6, width: int = 100) -> list:
    """A list of a hundred references to a list of a hundred references to ...: ~1.4 kB pickled,
    10**14 items to anything that walks it as a tree."""
    value = [0] * width
    for _ in range(levels):
        value = [value] * width
    return value


PLAIN = (None, None, None, -1, -1, 0)  # numpy's dtype state after version and byte order, for a number type
FAR_FIELD = (3, "|", None, ("a",), {"a": (np.dtype(">f8"), 10**7)}, 4, 4, 0)
# Found in review: each of these got past the first version of the reader.
CRAFTED = {
    # A dtype whose state adds a field 10 MB past an 8-byte buffer: reading it crashed the process.
    "dtype with a far field": {"w": Array((1, (2,), Dtype(">f4", FAR_FIELD), False, b"A" * 8))},
    "dtype with object flags": {"w": Array((1, (1,), Dtype(">i8", (3, "<", *PLAIN[:-1], 0x3F)), False, bytes(8)))},
    "data shorter than the shape": {"w": Array((1, (4,), Dtype("<f4", (3, "<", *PLAIN)), False, bytes(8)))},
    "sliced arrays of objects": {
        "a": [None] * 5,
        "b": ["x"] * 5,
        "UnpackBigParamInfor@@": {"w": {"slices": ["a", "b"], "OriginShape": [10]}},
    },
}


@pytest.mark.parametrize("case", list(CRAFTED))
def test_crafted_arrays_never_become_arrays(tmp_path, case, capfd):
    path = tmp_path / "x.pdparams"
    path.write_bytes(pickle.dumps(CRAFTED[case], protocol=2))
    with pytest.raises(WeightsError) as raised:
        read_state(path)
    assert capfd.readouterr() == ("", "")
    why = {
        "dtype with a far field": "refused, not plain weights: a dtype with fields or flags no state dict has",
        "dtype with object flags": "refused, not plain weights: a dtype with fields or flags no state dict has",
        "data shorter than the shape": "refused, not plain weights: an array of shape [4] with 8 bytes of data",
        "sliced arrays of objects": "its sliced arrays do not fit together (the slices are not flat arrays)",
    }[case]
    assert str(raised.value).startswith(f"{path}: {why}") and "\n" not in str(raised.value)


def test_shared_references_are_walked_once(tmp_path):
    path = tmp_path / "x.pdparams"
    path.write_bytes(pickle.dumps({"w": np.zeros(2), "laugh": shared_lists()}, protocol=4))
    assert len(path.read_bytes()) < 2000
    state = read_state(path)  # returns at once: the walk visits each shared list once
    assert state["laugh"][0][0][0][0][0][0] == [0] * 100


@pytest.mark.parametrize("slot", [2**29, 2**31 - 1])
def test_a_memo_slot_far_away_is_refused_before_the_unpickler_makes_room_for_it(tmp_path, slot):
    path = tmp_path / "x.pdparams"
    path.write_bytes(b"\x80\x02}r" + slot.to_bytes(4, "little") + b".")  # 9 bytes; 8 GB of memo to unpickle
    with pytest.raises(WeightsError, match="a memo slot out of order"):
        read_state(path)


def test_numpy_scalars_and_ordered_dicts_are_plain_data(tmp_path):
    path = tmp_path / "x.pdopt"
    path.write_bytes(pickle.dumps({"a": np.float64(0.5), "b": collections.OrderedDict(c=np.ones(2))}, protocol=2))
    state = read_state(path)
    assert state["a"] == 0.5 and np.array_equal(state["b"]["c"], np.ones(2))


# ----------------------------------------------------------------------------- every entry point


@pytest.fixture
def marker(tmp_path):
    path = tmp_path / "payload-ran"
    yield path
    assert not path.exists(), "the payload ran"


def test_infer_refuses_a_malicious_checkpoint(tmp_path, marker, capsys):
    weights = malicious_copy("cnn", tmp_path / "evil", marker, "os.system")
    assert infer_script.main([str(ROOT / "work/example_0.png"), "--model", str(weights)]) == 2
    out, error = capsys.readouterr()
    assert out == "" and error == f"error: {weights}: refused, not plain weights: it asks to run 'posix.system'; " \
        "it was not loaded\n"  # fmt: skip


def test_evaluate_refuses_a_malicious_checkpoint(tmp_path, marker, capsys):
    weights = malicious_copy("mlp-sigmoid", tmp_path / "evil", marker, "exec")
    assert evaluate.main([str(weights)]) == 2
    assert "refused, not plain weights: it asks to run 'builtins.exec'" in capsys.readouterr().err
    assert not list((tmp_path / "evil").glob("*.png"))


def test_bridge_refuses_a_malicious_checkpoint(tmp_path, marker, capsys):
    weights = malicious_copy("mlp-sigmoid", tmp_path / "evil", marker, "open")
    assert bridge.main([str(weights)]) == 2
    assert "refused, not plain weights: it asks to run 'io.open'" in capsys.readouterr().err
    assert not list((tmp_path / "evil").glob("*.npz"))


def test_load_weights_refuses_a_malicious_checkpoint(tmp_path, marker):
    from handwriting.models import build_model

    weights = malicious_copy("mlp-sigmoid", tmp_path / "evil", marker, "os.system")
    with pytest.raises(checkpoint.CheckpointError, match="refused, not plain weights"):
        checkpoint.load_weights(build_model("mlp-sigmoid"), weights)


@pytest.mark.parametrize("which", ["weights", "optimizer"])
def test_resume_refuses_a_malicious_state_file_even_with_a_matching_card(tmp_path, marker, which, synthetic):
    from handwriting.data.store import dataset_dir, load

    synthetic.write(dataset_dir(synthetic.spec))
    data = load(synthetic.spec, download=False)
    settings = dict(model="mlp-sigmoid", dataset="synth", epochs=1, batch_size=8, max_steps=1, out=str(tmp_path))
    fit(TrainConfig(**settings), data=data, log=lambda message: None)
    # An attacker who can write the run's folder can also rewrite the card's checksums to match.
    card_path = tmp_path / "mlp-sigmoid.json"
    card = json.loads(card_path.read_text())
    target = tmp_path / "mlp-sigmoid.run" / card["resume"][which]
    evil = pickle.dumps({"x": payloads(marker)["os.system"]}, protocol=4)
    target.write_bytes(evil)
    card["resume"]["sha256"][card["resume"][which]] = checkpoint.sha256_of(evil)
    card_path.write_text(json.dumps(card))
    with pytest.raises(RunError, match="refused, not plain weights: it asks to run 'posix.system'"):
        fit(TrainConfig(**settings), resume=True, data=data, log=lambda message: None)


def test_train_resume_from_the_command_line_refuses_it_in_one_line(tmp_path, marker, capsys):
    state = tmp_path / "cnn.run"
    state.mkdir()
    evil = pickle.dumps({"x": payloads(marker)["os.system"]}, protocol=4)
    names = {"weights": "0123abcd-epoch-0001.pdparams", "optimizer": "0123abcd-epoch-0001.pdopt"}
    for name in names.values():
        (state / name).write_bytes(evil)
    card = json.loads((ROOT / "models/cnn.json").read_text())
    card["epochs"] = card["epochs"][:1]
    card["weights_sha256"] = checkpoint.sha256_of(evil)
    card["resume"] = {
        "run": "0123abcd",
        "epoch": 1,
        **names,
        "kept": names["weights"],
        "sha256": {name: checkpoint.sha256_of(evil) for name in names.values()},
    }
    (tmp_path / "cnn.json").write_text(json.dumps(card))
    assert train_script.main(["--out", str(tmp_path), "--resume"]) == 2
    error = capsys.readouterr().err
    assert error.startswith("error: --resume: ") and "it asks to run 'posix.system'" in error
    assert error.count("\n") == 1
