"""One process of tests/test_parallel.py's launched runs (``python -m paddle.distributed.launch``).

    python -m paddle.distributed.launch --nproc_per_node 2 tests/parallel_worker.py FOLDER MODEL BATCH STEPS

Trains ``MODEL`` for ``STEPS`` steps of ``BATCH`` images per process on FOLDER/data.npz through the
engine's own pieces (``make_loader`` with this process's rank, ``parallel.wrap``, ``train_one_epoch``,
``average_buffers``), then writes this process's whole state dict to FOLDER/rank<R>.npz, and as it was
before ``average_buffers`` to FOLDER/rank<R>.before.npz.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import paddle  # noqa: E402

from handwriting.config import TrainConfig  # noqa: E402
from handwriting.data.loader import make_loader  # noqa: E402
from handwriting.data.store import SplitArrays  # noqa: E402
from handwriting.engine import make_optimizer, train_one_epoch  # noqa: E402
from handwriting.models import build_model  # noqa: E402
from handwriting.parallel import average_buffers, ranks_from_environment, start_processes, wrap  # noqa: E402
from handwriting.runtime import pick_device  # noqa: E402


def main() -> None:
    folder, model_name, batch, steps = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    ranks = ranks_from_environment()
    pick_device("cpu", ranks)
    start_processes(ranks)
    arrays = np.load(folder / "data.npz")
    split = SplitArrays(arrays["images"], arrays["labels"])
    config = TrainConfig(
        model=model_name,
        batch_size=batch,
        lr=0.05,
        optimizer="sgd",
        lr_schedule="constant",
        weight_decay=0.0,
        augment="none",
        epochs=1,
    )
    paddle.seed(1)  # rank 1 starts from other weights than rank 0: DataParallel must replace them with rank 0's
    if ranks.rank == 0:
        paddle.seed(0)
    options = {"dropout": 0.0} if model_name == "mlp" else {}
    model = build_model(model_name, **options)
    loader = make_loader(split, batch, shuffle=True, seed=3, rank=ranks.rank, world=ranks.world)
    optimizer, _ = make_optimizer(config, model, steps)
    paddle.seed(ranks.rank)  # each process's own dropout
    train_one_epoch(wrap(model, ranks), loader, optimizer, None, config, 0, steps, "classify", 10, ranks=ranks)
    state = {key: value.numpy().copy() for key, value in model.state_dict().items()}
    np.savez(folder / f"rank{ranks.rank}.before.npz", **state)  # batch norm's statistics as this process gathered them
    average_buffers(model, ranks)
    np.savez(folder / f"rank{ranks.rank}.npz", **{key: value.numpy() for key, value in model.state_dict().items()})


if __name__ == "__main__":
    main()
