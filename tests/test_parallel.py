"""Training in several processes (handwriting.parallel): paddle.distributed.launch, DataParallel and
Paddle's DistributedBatchSampler, tested on the CPU with 2 processes talking through gloo."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import paddle
import pytest

from handwriting.config import TrainConfig
from handwriting.data.loader import make_loader
from handwriting.data.store import SplitArrays
from handwriting.engine import make_optimizer, train_one_epoch
from handwriting.models import build_model
from handwriting.parallel import Ranks, my_share, ranks_from_environment

ROOT = Path(__file__).resolve().parents[1]


def digits(count: int, seed: int = 0) -> SplitArrays:
    rng = np.random.default_rng(seed)
    return SplitArrays(rng.integers(0, 256, (count, 28, 28), dtype=np.uint8), np.arange(count, dtype=np.int64) % 10)


def launch(*arguments: str, logs: Path, timeout: int = 180) -> subprocess.CompletedProcess:
    """``python -m paddle.distributed.launch --nproc_per_node 2 ...`` on the CPU, from the repository root."""
    environment = {key: value for key, value in os.environ.items() if not key.startswith("PADDLE_")}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "paddle.distributed.launch",
            "--nproc_per_node",
            "2",
            "--log_dir",
            str(logs),
            *arguments,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=environment,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


# ----------------------------------------------------------------------------- without launching


def test_a_process_alone_is_rank_0_of_1(monkeypatch):
    monkeypatch.delenv("PADDLE_TRAINERS_NUM", raising=False)
    assert ranks_from_environment() == Ranks(0, 1, 1, 0)
    monkeypatch.setenv("PADDLE_TRAINERS_NUM", "4")
    monkeypatch.setenv("PADDLE_TRAINER_ID", "3")
    monkeypatch.setenv("PADDLE_LOCAL_SIZE", "2")
    monkeypatch.setenv("PADDLE_LOCAL_RANK", "1")
    ranks = ranks_from_environment()
    assert (ranks, ranks.main) == (Ranks(3, 4, 2, 1), False)


@pytest.mark.parametrize("count", [10, 11, 1000])
def test_the_ranks_share_of_an_evaluation_covers_every_item_once(count):
    parts = [my_share(count, Ranks(rank, 3)) for rank in range(3)]
    assert np.concatenate([np.arange(count)[part] for part in parts]).tolist() == list(range(count))


def test_each_step_of_two_ranks_reads_one_single_process_step_of_twice_the_batch():
    split = digits(100)
    single = list(make_loader(split, 16, shuffle=True, seed=5))
    ranks = [list(make_loader(split, 8, shuffle=True, seed=5, rank=rank, world=2)) for rank in (0, 1)]
    assert len(single) == len(ranks[0]) == len(ranks[1]) == 7
    for step in range(6):  # the full steps; the last one (4 images) is split 2 and 2
        together = np.concatenate([ranks[0][step][1].numpy(), ranks[1][step][1].numpy()])
        assert together.tolist() == single[step][1].numpy().tolist()
        images = np.concatenate([ranks[0][step][0].numpy(), ranks[1][step][0].numpy()])
        np.testing.assert_array_equal(images, single[step][0].numpy())


def test_one_process_reads_the_seeded_order_it_always_read():
    # A single process's batches are the seeded permutation cut in order: runs saved before the
    # sampler was added resume onto the same batches.
    split = SplitArrays(np.zeros((10, 28, 28), np.uint8), np.arange(10, dtype=np.int64))
    loader = make_loader(split, 4, shuffle=True, seed=7)
    loader.dataset.set_epoch(2)
    order = np.random.default_rng([7, 2]).permutation(10)
    assert [labels.numpy().tolist() for _, labels in loader] == [
        order[:4].tolist(),
        order[4:8].tolist(),
        order[8:].tolist(),
    ]


# ----------------------------------------------------------------------------- two launched processes


def test_two_processes_step_as_one_with_twice_the_batch_and_hold_the_same_weights(tmp_path):
    split = digits(64)
    np.savez(tmp_path / "data.npz", images=split.images, labels=split.labels)
    launch("tests/parallel_worker.py", str(tmp_path), "mlp", "8", "1", logs=tmp_path / "logs")
    ranks = [dict(np.load(tmp_path / f"rank{rank}.npz")) for rank in (0, 1)]
    assert ranks[0].keys() == ranks[1].keys()
    for key in ranks[0]:
        np.testing.assert_array_equal(ranks[0][key], ranks[1][key])  # the very same weights

    # The same step in this one process: rank 0's first weights, batch 2 x 8, the same shuffled order.
    config = TrainConfig(model="mlp", batch_size=16, lr=0.05, optimizer="sgd", lr_schedule="constant")
    config.weight_decay, config.augment = 0.0, "none"
    paddle.seed(0)
    model = build_model("mlp", dropout=0.0)
    before = {key: value.numpy().copy() for key, value in model.state_dict().items()}
    optimizer, _ = make_optimizer(config, model, 1)
    train_one_epoch(model, make_loader(split, 16, shuffle=True, seed=3), optimizer, None, config, 0, 1, "classify", 10)
    for key, value in model.state_dict().items():
        assert not np.array_equal(before[key], value.numpy()), key  # the step changed every weight
        np.testing.assert_allclose(ranks[0][key], value.numpy(), rtol=1e-5, atol=1e-6, err_msg=key)


def test_two_processes_average_batch_norm_statistics_and_hold_the_same_weights(tmp_path):
    split = digits(96, seed=1)
    np.savez(tmp_path / "data.npz", images=split.images, labels=split.labels)
    launch("tests/parallel_worker.py", str(tmp_path), "cnn", "8", "3", logs=tmp_path / "logs")
    ranks = [dict(np.load(tmp_path / f"rank{rank}.npz")) for rank in (0, 1)]
    before = [dict(np.load(tmp_path / f"rank{rank}.before.npz")) for rank in (0, 1)]
    running = [key for key in ranks[0] if key.endswith(("_mean", "_variance"))]
    assert len(running) == 8  # the cnn's four batch norms: each process gathered them from its own images...
    for key in running:
        assert not np.allclose(before[0][key], before[1][key]), key
        mean = (before[0][key] + before[1][key]) / 2  # ...and both now hold their mean
        np.testing.assert_allclose(ranks[0][key], mean, rtol=1e-5, atol=1e-7, err_msg=key)
    for key in ranks[0]:  # and every weight (dropout differed between them: gradients are averaged)
        np.testing.assert_allclose(ranks[0][key], ranks[1][key], rtol=1e-6, atol=1e-7, err_msg=key)


def test_train_py_under_launch_writes_once_records_the_batches_and_resumes(tmp_path):
    data = tmp_path / "tiny"
    split = digits(60, seed=2)
    for name, count in (("train", 60), ("test", 20)):
        rows = np.column_stack([split.labels[:count], split.images[:count].reshape(count, -1)])
        np.savetxt(f"{data}_{name}.csv", rows, fmt="%d", delimiter=",")
    flags = ["--dataset", f"csv:{data}", "--model", "mlp", "--batch-size", "8", "--lr-schedule", "constant"]
    flags += ["--out", str(tmp_path / "out"), "--name", "pair"]
    first = launch("train.py", *flags, "--epochs", "1", logs=tmp_path / "logs1")
    card = json.loads((tmp_path / "out" / "pair.json").read_text())
    assert (card["processes"], card["batch_per_process"], card["global_batch"]) == (2, 8, 16)
    assert (card["device"], card["precision"], len(card["epochs"])) == ("cpu", "float32", 1)
    assert card["epochs"][0]["train_accuracy"] * 60 == pytest.approx(round(card["epochs"][0]["train_accuracy"] * 60))
    rank0, rank1 = ((tmp_path / "logs1" / f"workerlog.{rank}").read_text() for rank in (0, 1))
    assert "saved" in rank0 and "epoch 1/1:" in rank0
    assert "saved" not in rank1 and "epoch 1/1:" not in rank1 and "Linear" not in rank1  # rank 0 speaks alone
    assert "test accuracy" in first.stdout + first.stderr
    log_lines = (tmp_path / "out" / "pair.log.jsonl").read_text().splitlines()
    assert len(log_lines) == 1  # one line per epoch, written by one process

    # The test accuracy the two processes reported, each scoring half the test set, is the whole set's.
    from handwriting import checkpoint
    from handwriting.engine import evaluate

    model, _ = checkpoint.load_model(tmp_path / "out" / "pair.pdparams")
    test = SplitArrays(split.images[:20], split.labels[:20])
    alone = evaluate(model, test, "classify", 10)
    assert alone["accuracy"] == card["epochs"][0]["test_accuracy"]
    assert alone["loss"] == pytest.approx(card["epochs"][0]["test_loss"], rel=1e-5)

    launch("train.py", *flags, "--epochs", "2", "--resume", logs=tmp_path / "logs2")
    card = json.loads((tmp_path / "out" / "pair.json").read_text())
    assert [epoch["epoch"] for epoch in card["epochs"]] == [1, 2]
    assert "resuming pair after epoch 1" in (tmp_path / "logs2" / "workerlog.0").read_text()

    # Continued by one process, it would take other steps than it started with: refused in one line.
    done = subprocess.run(
        [sys.executable, "train.py", *flags, "--epochs", "3", "--resume"], cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert "was trained by 2 processes, not 1; continue it with python -m paddle.distributed.launch" in done.stderr
