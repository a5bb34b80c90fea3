"""Training in several processes at once: one per GPU, per machine, or per CPU core.

    python -m paddle.distributed.launch --nproc_per_node 2 train.py ...                 # 2 GPUs (or 2 CPU processes)
    python -m paddle.distributed.launch --ips 10.0.0.1,10.0.0.2 --nproc_per_node 8 train.py ...  # 2 machines

Paddle's launcher starts the processes and tells each, in its environment, its rank (0, 1, ...)
and how many there are. ``engine.fit`` then trains as one run:

- the model is wrapped in ``paddle.DataParallel``: every process starts from rank 0's weights, and
  after each backward pass the gradients are averaged over the processes, so all hold the same weights;
- each epoch's shuffled order is the same in every process (seeded by --seed and the epoch), and
  ``paddle.io.DistributedBatchSampler`` deals it out: rank r reads the r-th B images of each block of
  N x B, so one step of N processes with batch B reads exactly the images of one step with batch N x B;
- --batch-size is the batch of one process (Paddle's convention); the card records both it and the
  global batch;
- batch norm's running statistics are averaged over the processes after every epoch
  (``average_buffers``): each process gathers them from its own images;
- losses and counts are summed over the processes (``summed``), so the numbers printed and saved
  are those of the whole batch and the whole test set;
- only rank 0 writes: checkpoints, card, log, curves, progress bars and messages;
- each machine's first process (``local_rank`` 0) fetches the data before the others read it, and
  ``--resume`` continues only with as many processes as the run started with.

On CPUs the processes talk through gloo, on GPUs through NCCL; Paddle picks which.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Ranks:
    """Which process this is (``rank``) of how many (``world``); how many share this machine (``local``)
    and which of them this is (``local_rank``)."""

    rank: int = 0
    world: int = 1
    local: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        """Whether this process is the one that writes files and prints."""
        return self.rank == 0


ALONE = Ranks()  # a process training by itself


def ranks_from_environment() -> Ranks:
    """What ``paddle.distributed.launch`` told this process; one process of one when it was started alone."""
    world = int(os.environ.get("PADDLE_TRAINERS_NUM", "1"))
    if world <= 1:
        return ALONE
    return Ranks(
        rank=int(os.environ.get("PADDLE_TRAINER_ID", "0")),
        world=world,
        local=int(os.environ.get("PADDLE_LOCAL_SIZE", str(world))),
        local_rank=int(os.environ.get("PADDLE_LOCAL_RANK", os.environ.get("PADDLE_TRAINER_ID", "0"))),
    )


def start_processes(ranks: Ranks) -> None:
    """Join the other processes (a no-op for a single one); call after the device is set."""
    if ranks.world > 1:
        import paddle.distributed as dist

        if not dist.is_initialized():
            dist.init_parallel_env()


def wrap(model, ranks: Ranks):
    """``model`` as the training loop should call it: ``paddle.DataParallel`` when several processes
    train it (which copies rank 0's weights to every process now), else ``model`` itself."""
    if ranks.world == 1:
        return model
    import paddle

    return paddle.DataParallel(model)


def average_buffers(model, ranks: Ranks) -> None:
    """Batch norm's running means and variances, averaged over the processes (in place).

    Each process updates them from its own images, and DataParallel averages gradients, not
    these: without this each process would keep its own, and only rank 0's would be saved.
    """
    if ranks.world == 1:
        return
    import paddle
    import paddle.distributed as dist

    # Paddle keeps them as parameters that no gradient updates (stop_gradient), not as buffers.
    untrained = [parameter for parameter in model.parameters() if parameter.stop_gradient]
    for tensor in [*untrained, *model.buffers()]:
        if paddle.is_floating_point(tensor):
            dist.all_reduce(tensor)  # SUM, in place
            tensor.scale_(1.0 / ranks.world)


def summed(values: list, ranks: Ranks) -> list[float]:
    """Each number (float or 0-d tensor) summed over all the processes -> plain floats."""
    if ranks.world == 1:
        return [float(value) for value in values]
    import paddle
    import paddle.distributed as dist

    together = paddle.to_tensor([float(value) for value in values], dtype="float64")
    dist.all_reduce(together)  # SUM
    return [float(value) for value in together.numpy()]


def my_share(count: int, ranks: Ranks) -> slice:
    """The contiguous part of ``count`` items this process evaluates: every item once, over all ranks."""
    start = count * ranks.rank // ranks.world
    return slice(start, count * (ranks.rank + 1) // ranks.world)
