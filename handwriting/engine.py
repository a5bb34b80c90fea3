"""The training engine: one epoch of training, evaluation, and the whole run with checkpoints.

    fit                 the run, top to bottom: data, model, optimizer, card, then per epoch
                        train_one_epoch -> evaluate -> keep_best -> save (``RunFiles.commit``)
    train_one_epoch     one pass over the shuffled training images, updating the model
    evaluate            loss and accuracy on a whole split, in order, without dropout
    saved_state         what --resume continues from, checked before any data is loaded
    restore             that saved state put back into the model, the optimizer and the card
    keep_best           whether this epoch's weights are the ones the run keeps

Kept free of argument parsing so a notebook can call ``fit`` directly; ``train.py`` only
turns flags into a ``TrainConfig`` (``handwriting.config``). Started by ``paddle.distributed.launch``,
``fit`` trains as one of several processes (``handwriting.parallel``).
"""

from __future__ import annotations

import contextlib
import math
import platform
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass

import numpy as np
import paddle
import paddle.nn.functional as F
from tqdm import tqdm

from handwriting import checkpoint
from handwriting.augment import BATCH_AUGMENTATIONS, recipe_settings, rotated_copies
from handwriting.config import AUGMENTATIONS, OPTIMIZERS, RESUME_MAY_CHANGE, SCHEDULES, TrainConfig
from handwriting.data import DatasetSpec, get_spec, load
from handwriting.data.loader import make_loader
from handwriting.data.store import LoadedDataset, SplitArrays
from handwriting.errors import UserError, counted, one_line
from handwriting.models import (
    InShape,
    ModelEntry,
    build_model,
    count_parameters,
    decide,
    model_entry,
    resolved_options,
    summary,
)
from handwriting.parallel import (
    ALONE,
    Ranks,
    average_buffers,
    my_share,
    ranks_from_environment,
    start_processes,
    summed,
    wrap,
)
from handwriting.preprocess.pixels import NORMALISATION
from handwriting.runs import RunFiles
from handwriting.runtime import pick_device, synchronize

# What a resumed run takes from its saved card; the rest of the card is rebuilt as for a new run.
RESUMED_CARD_KEYS = ("epochs", "seconds", "kept_epoch", "test_accuracy", "best_val_accuracy", "resume")


# ----------------------------------------------------------------------------- one epoch


def loss_and_correct(task: str, outputs: paddle.Tensor, labels: paddle.Tensor, num_classes: int):
    """Mean loss of a batch and how many predictions are right.

    Classifiers: cross-entropy on logits [N, C] (softmax applied here, once).
    Regression: squared error of the predicted value [N, 1] against the label as a number;
    the prediction is that value rounded and clipped to a class.
    """
    if task == "regress":
        loss = F.mse_loss(outputs.squeeze(-1), labels.astype("float32"))
        predictions = decide(task, outputs, num_classes)[0]
    else:
        loss = F.cross_entropy(outputs, labels)
        predictions = outputs.argmax(axis=-1)  # same as decide(), without the softmax it does not need
    return loss, (predictions == labels).astype("int64").sum()


def train_one_epoch(
    model,
    loader,
    optimizer,
    schedule,
    config: TrainConfig,
    epoch: int,
    steps: int,
    task: str,
    num_classes: int,
    scaler=None,
    ranks: Ranks = ALONE,
) -> dict:
    """One pass over ``loader`` (at most ``steps`` batches), updating ``model`` in place.

    ``epoch`` counts from 0; ``schedule`` (None on a constant rate) is stepped after every batch.
    ``scaler`` (a ``paddle.amp.GradScaler``, with ``config.amp``) scales the loss of the float16
    forward pass so that small gradients survive. Returns the epoch's numbers for the card:
    train_loss and train_accuracy (averaged over the images seen, as the model was while it
    learned; over every process's images when ``ranks`` holds several), seconds and images_per_second.
    """
    model.train()
    synchronize()
    started = time.perf_counter()
    seen, total_loss, correct = 0, 0.0, 0
    # Only rank 0 shows a bar; its own is left to tqdm's defaults, so TQDM_DISABLE=1 still hides it.
    quiet = {} if ranks.main else {"disable": True}
    bar = tqdm(loader, total=steps, desc=f"epoch {epoch + 1}/{config.epochs}", leave=False, **quiet)
    for step, (images, labels) in enumerate(bar):  # images [N, 1, H, W] in [-1, 1], labels [N] int64
        if step >= steps:
            break
        if config.augment in BATCH_AUGMENTATIONS:
            images = BATCH_AUGMENTATIONS[config.augment](images)
        # O1: matrix products and convolutions in float16, the rest (softmax, loss, batch norm) in float32.
        with paddle.amp.auto_cast(enable=config.amp, level="O1"):
            loss, right = loss_and_correct(task, model(images), labels, num_classes)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.step(optimizer)  # skips the update when a gradient overflowed, and lowers the scale
            scaler.update()
        else:
            loss.backward()
            optimizer.step()
        optimizer.clear_grad()
        if schedule is not None:
            schedule.step()
        seen += len(labels)
        total_loss += loss.detach() * len(labels)  # stays a tensor: no device sync per step
        correct += right
        if step % 50 == 0 and ranks.main:
            bar.set_postfix(loss=f"{float(total_loss) / seen:.4f}", acc=f"{float(correct) / seen:.4f}", refresh=False)
    bar.close()
    synchronize()  # a GPU may still be working on the last steps: wait for it before reading the clock
    seconds = time.perf_counter() - started
    total_loss, correct, seen = summed([total_loss, correct, seen], ranks)
    if not math.isfinite(total_loss):  # every later number would be NaN too
        raise UserError(f"training diverged in epoch {epoch + 1} (loss {total_loss / seen}); lower --lr")
    return {
        "train_loss": total_loss / seen,
        "train_accuracy": correct / seen,
        "seconds": seconds,
        "images_per_second": seen / seconds,
    }


def evaluate(
    model, split: SplitArrays, task: str, num_classes: int, batch_size: int = 1000, ranks: Ranks = ALONE
) -> dict:
    """Loss and accuracy of ``model`` on a whole split (in order, no shuffling, no dropout)
    -> {"loss": float, "accuracy": float}. With several ``ranks``, each process reads its own part
    and the sums are added up, so every process returns the numbers of the whole split."""
    part = my_share(len(split), ranks)
    model.eval()
    total_loss, correct = 0.0, 0
    with paddle.no_grad():
        for images, labels in make_loader(SplitArrays(split.images[part], split.labels[part]), batch_size, False):
            loss, right = loss_and_correct(task, model(images), labels, num_classes)
            total_loss += float(loss) * len(labels)
            correct += int(right)
    model.train()
    total_loss, correct = summed([total_loss, correct], ranks)
    return {"loss": total_loss / len(split), "accuracy": correct / len(split)}


# ----------------------------------------------------------------------------- setting a run up


@dataclass
class Splits:
    """The images of one run, as the model will see them."""

    train: SplitArrays  # what it learns from, with any fixed augmentation (rotate10's copies) added
    val: SplitArrays | None  # held out to choose the epoch to keep (--val-size); None without
    test: SplitArrays  # reported after every epoch, never used to choose anything
    in_shape: InShape  # (1, H, W): what the model is built for


def split_data(data: LoadedDataset, val_size: int, augment: str) -> Splits:
    """Hold out the last ``val_size`` training images (none when 0) and add ``rotate10``'s copies."""
    train, test = data.splits["train"], data.splits["test"]
    val = None
    if val_size:
        if not 0 < val_size < len(train):
            raise UserError(f"--val-size must be between 1 and {len(train) - 1}, got {val_size}")
        cut = len(train) - val_size  # held out before any augmentation: no rotated copies leak
        val = SplitArrays(train.images[cut:], train.labels[cut:])
        train = SplitArrays(train.images[:cut], train.labels[:cut])
    in_shape = (1, *train.images.shape[1:])
    if augment == "rotate10":
        train = rotated_copies(train)
    return Splits(train, val, test, in_shape)


def make_optimizer(config: TrainConfig, model, steps_per_epoch: int):
    """The optimizer ``config`` names over ``model``'s parameters, and its learning-rate schedule
    (None on a constant rate; else to be stepped once per batch) -> (optimizer, schedule)."""
    total = config.epochs * steps_per_epoch
    if config.lr_schedule == "constant":
        schedule = config.lr
    elif config.lr_schedule == "cosine":
        schedule = paddle.optimizer.lr.CosineAnnealingDecay(config.lr, T_max=total)
    elif config.lr_schedule == "onecycle":
        schedule = paddle.optimizer.lr.OneCycleLR(max_learning_rate=config.lr, total_steps=total)
    else:
        raise UserError(f"unknown --lr-schedule {config.lr_schedule!r}; choose one of: {', '.join(SCHEDULES)}")
    parameters = model.parameters()
    decay = config.weight_decay or None
    if config.optimizer == "sgd":
        optimizer = paddle.optimizer.SGD(schedule, parameters=parameters, weight_decay=decay)
    elif config.optimizer == "momentum":
        optimizer = paddle.optimizer.Momentum(schedule, momentum=0.9, parameters=parameters, weight_decay=decay)
    elif config.optimizer == "rmsprop":  # Keras's defaults, as the Keras article used them
        optimizer = paddle.optimizer.RMSProp(schedule, rho=0.9, epsilon=1e-7, parameters=parameters, weight_decay=decay)
    elif config.optimizer == "adam":
        optimizer = paddle.optimizer.Adam(schedule, parameters=parameters, weight_decay=decay)
    elif config.optimizer == "adamw":
        optimizer = paddle.optimizer.AdamW(schedule, parameters=parameters, weight_decay=config.weight_decay)
    else:
        raise UserError(f"unknown --optimizer {config.optimizer!r}; choose one of: {', '.join(OPTIMIZERS)}")
    return optimizer, (schedule if not isinstance(schedule, float) else None)


def seed_epoch(seed: int, epoch: int, rank: int = 0) -> None:
    """Seed Paddle's generator from (seed, epoch): dropout in epoch e is the same whether or not
    the run was interrupted before it, which is what makes --resume exact. Each process of a
    launched run (``rank``) draws its own dropout and augmentation for its own images."""
    paddle.seed(seed * 100_003 + epoch + rank * 1_000_003)


def build_with_options(config: TrainConfig, num_classes: int, in_shape: InShape):
    """The run's model; a --model-option value the model cannot take (width=abc, width=0,
    dropout=1.5) is one line. With options, the model is also run once on a blank batch, because
    some bad values (a zero width) are refused only when a layer first computes."""
    if not config.model_options:
        return build_model(config.model, num_classes=num_classes, in_shape=in_shape)
    try:
        model = build_model(config.model, num_classes=num_classes, in_shape=in_shape, **config.model_options)
        model.eval()
        with paddle.no_grad():
            model(paddle.zeros([2, *in_shape]))
        model.train()
        return model
    except (TypeError, ValueError, AssertionError) as error:
        options = " ".join(f"{key}={value!r}" for key, value in config.model_options.items())
        reason = one_line(error).split(" (at /")[0]  # Paddle appends the C++ source line
        raise UserError(f"--model-option {options}: {config.model} cannot be built with it ({reason})") from None


def new_card(
    config: TrainConfig,
    entry: ModelEntry,
    spec: DatasetSpec,
    data: LoadedDataset,
    splits: Splits,
    model,
    device: str,
    ranks: Ranks = ALONE,
) -> dict:
    """The checkpoint card of a run that has trained no epoch yet: how to rebuild the model, what
    it reads, the data it learns from (with checksums) and the settings, and where it trained (the
    device, the precision, the processes and their batches); ``fit`` adds the epochs."""
    return {
        "model": {
            "name": config.model,
            "task": entry.task,
            "options": resolved_options(config.model, **config.model_options),
            "in_shape": splits.in_shape,
        },
        "classes": list(spec.classes),
        "normalisation": NORMALISATION,
        "framing": spec.framing,  # how infer.py frames a picture for this model, as its data was framed
        "dataset": {
            "name": spec.name,
            "sha256": data.checksums,
            "train": len(splits.train),
            "val": config.val_size,
            "test": len(splits.test),
        },
        "parameters": count_parameters(model),
        "config": asdict(config),
        "augment_settings": recipe_settings(config.augment),
        "paddle": paddle.__version__,
        "python": platform.python_version(),
        "device": device,
        # O1 mixed precision: convolutions and matrix products in float16, the rest in float32.
        "precision": "amp-o1-float16" if config.amp else "float32",
        "processes": ranks.world,  # paddle.distributed.launch's processes (DataParallel), 1 without it
        "batch_per_process": config.batch_size,
        "global_batch": config.batch_size * ranks.world,  # the images of one optimizer step
        "epochs": [],
        "seconds": 0.0,
    }


# ----------------------------------------------------------------------------- resuming


def check_same_settings(config: TrainConfig, card: dict, run: RunFiles) -> None:
    """--resume continues a run exactly, so only with the settings it was started with: refuse any
    other, in one line. More --epochs are allowed only on a constant learning rate (a schedule
    was planned for the run's own number of steps)."""
    saved = card.get("config") if isinstance(card.get("config"), dict) else {}
    wanted = asdict(config)

    built = checkpoint.built_options(card)
    if built is not None and "model_options" in saved:
        # The models compared as built, every argument spelled out: {} meant the defaults of the
        # day, which may have changed since (the cnn's width did).
        saved = dict(saved, model_options=built)
        wanted = dict(wanted, model_options=resolved_options(config.model, **wanted["model_options"]))
    differ = [key for key in wanted if key in saved and key not in RESUME_MAY_CHANGE and saved[key] != wanted[key]]
    if differ == ["epochs"] and config.lr_schedule == "constant" and config.epochs > saved["epochs"]:
        return
    if differ:
        flag = {"model_options": "model-option"}  # the one setting whose flag is not its name
        started = ", ".join(f"--{flag.get(key, key.replace('_', '-'))} {saved.get(key)}" for key in differ)
        asked = ", ".join(f"{wanted[key]}" for key in differ)
        raise UserError(
            f"--resume: {run} was started with {started}, not {asked}; a resumed run keeps its settings "
            "(train.py takes them from its card: leave those flags out), or start a new run with another --name"
        )
    recorded, now = card.get("augment_settings"), recipe_settings(config.augment)
    if isinstance(recorded, dict) and recorded != now:
        # The recipe's ranges are constants in handwriting/augment.py, not flags: if they changed
        # since the run started, continuing would train its last epochs on another recipe.
        changed = ", ".join(
            f"{key} {recorded.get(key)} (now {value})" for key, value in now.items() if recorded.get(key) != value
        )
        raise UserError(
            f"--resume: {run} was started with --augment {config.augment} at {changed or recorded}; "
            "handwriting/augment.py's ranges have changed since, so it cannot continue exactly: "
            "restore them, or start a new run with another --name"
        )


def saved_state(
    config: TrainConfig, run: RunFiles, title: str, ranks: Ranks = ALONE, repair: bool = True
) -> tuple[dict, dict, dict]:
    """What --resume continues from -> (card, weights, optimizer state) after the run's last epoch.

    Called before any data is loaded, so a run that cannot continue says so at once; a save that
    a killed process left unfinished is completed first (``RunFiles.resume``).
    """
    if run.card.exists():
        card = checkpoint.read_card(run.card)
        if "resume" in card:  # else run.resume says why this card cannot be continued
            check_same_settings(config, card, run)
            check_same_processes(card, run, ranks)
    return run.resume(title, repair)


def check_same_processes(card: dict, run: RunFiles, ranks: Ranks) -> None:
    """--resume continues with as many processes as the run started with: another number would change
    the images of a step and the number of steps its learning-rate schedule was planned for."""
    started = card.get("processes", 1)  # cards from before launched runs were single processes
    if type(started) is not int or started < 1:
        raise UserError(f"--resume: {run.card}'s record of its processes is damaged ({started!r}); start a new run")
    if started != ranks.world:
        how = (
            "in one process (python train.py ... --resume)"
            if started == 1
            else f"with python -m paddle.distributed.launch --nproc_per_node {started} train.py ... --resume "
            "(on one machine; with --ips, as many processes in all)"
        )
        raise UserError(
            f"--resume: {run} was trained by {started} {'process' if started == 1 else 'processes'}, "
            f"not {ranks.world}; continue it {how}"
        )


def restore(saved: tuple[dict, dict, dict], model, optimizer, card: dict, config: TrainConfig, log) -> int:
    """Put ``saved_state``'s weights into ``model``, its optimizer state (moments, step count and
    schedule) into ``optimizer`` and its epochs so far into ``card``; return how many epochs are done."""
    previous, weights, optimizer_state = saved
    detail = checkpoint.state_mismatch(model.state_dict(), weights)
    if detail:
        raise UserError(f"--resume: the saved weights do not fit this {config.model!r} model ({detail})")
    model.set_state_dict(weights)
    optimizer.set_state_dict(optimizer_state)
    for key in RESUMED_CARD_KEYS:
        if key in previous:
            card[key] = previous[key]
    done = len(previous["epochs"])
    if done >= config.epochs:
        more = (
            "raise --epochs to train further"
            if config.lr_schedule == "constant"
            else f"its {config.lr_schedule} schedule ends there; train longer in a new run (--name, --epochs)"
        )
        log(f"{config.run_name} already has {counted(done, 'epoch')}; {more}")
    else:
        log(f"resuming {config.run_name} after epoch {done}")
    return done


# ----------------------------------------------------------------------------- after each epoch


def epoch_record(epoch: int, trained: dict, test: dict, val: dict | None) -> dict:
    """One entry of the card's "epochs" (and one line of the log) for ``epoch`` (counted from 0)."""
    record = {
        "epoch": epoch + 1,
        "train_loss": trained["train_loss"],
        "train_accuracy": trained["train_accuracy"],
        "test_loss": test["loss"],
        "test_accuracy": test["accuracy"],
        "seconds": trained["seconds"],
        "images_per_second": trained["images_per_second"],
    }
    if val is not None:
        record["val_loss"], record["val_accuracy"] = val["loss"], val["accuracy"]
    return record


def keep_best(card: dict, record: dict) -> bool:
    """Whether the weights of the epoch ``record`` describes are the ones the run keeps; if so,
    the card says so (kept_epoch, test_accuracy, best_val_accuracy).

    The kept weights are the best epoch's on the held-out images, or simply the latest when there
    are none: choosing by test accuracy would tune on the test set.
    """
    val_accuracy = record.get("val_accuracy")
    kept = val_accuracy is None or val_accuracy > card.get("best_val_accuracy", -1.0)
    if kept:
        card["kept_epoch"] = record["epoch"]
        card["test_accuracy"] = record["test_accuracy"]
        if val_accuracy is not None:
            card["best_val_accuracy"] = val_accuracy
    return kept


def describe_epoch(record: dict, epochs: int) -> str:
    """The line ``fit`` logs after each epoch."""
    return (
        f"epoch {record['epoch']}/{epochs}: train loss {record['train_loss']:.4f} "
        f"acc {record['train_accuracy']:.4f} | test loss {record['test_loss']:.4f} acc {record['test_accuracy']:.4f} | "
        f"{record['seconds']:.1f} s, {record['images_per_second']:.0f} images/s"
    )


# ----------------------------------------------------------------------------- the whole run


def fit(
    config: TrainConfig, resume: bool = False, data: LoadedDataset | None = None, log=print, overwrite: bool = False
) -> dict:
    """Train ``config.model`` on ``config.dataset``, saving a checkpoint after every epoch.

    ``resume`` continues the run saved under ``config.out``/``config.run_name``; without it, a
    name that already holds a run is refused unless ``overwrite``. ``data`` replaces loading
    ``config.dataset``; ``log`` receives each line to show. Returns the checkpoint card (also
    written to ``<out>/<name>.json``).
    """
    run = RunFiles(config.out, config.run_name)  # refuses a --name that is not a plain file name
    ranks = ranks_from_environment()  # one process, unless paddle.distributed.launch started several
    if not ranks.main:

        def log(message: str) -> None:  # rank 0 speaks for all
            pass

    with claimed(run, resume, overwrite, lock=ranks.main):
        if config.augment not in AUGMENTATIONS:
            raise UserError(f"unknown --augment {config.augment!r}; choose one of: {', '.join(AUGMENTATIONS)}")
        entry, spec = model_entry(config.model), get_spec(config.dataset)
        resolved_options(config.model, **config.model_options)  # an unknown --model-option: one line, now
        if config.augment == "flip-shift" and spec.framing != "fill":
            log(f"note: --augment flip-shift mirrors pictures; {spec.name} holds characters, which a mirror changes")
        title = config.model if config.run_name == config.model else f"{config.run_name} ({config.model})"
        title = f"{title} on {spec.name}"
        # Rank 0 checks the saved run (and finishes a save a killed run left undone) before the others read it.
        saved = saved_state(config, run, title, ranks) if resume and ranks.main else None
        device = pick_device(config.device, ranks)
        if config.amp and device != "gpu":
            raise UserError("--amp: Paddle's mixed precision runs on a GPU only (on the CPU it would change nothing)")
        # One process per machine fetches the data (into the shared cache) before the others read it:
        # joining them below waits for it. Were they all to fetch at once, Paddle's downloader would
        # let one download and keep the others waiting for a file in a folder that is not theirs.
        if data is None and ranks.local_rank == 0:
            data = load(spec, config.data_dir)
        start_processes(ranks)
        if resume and not ranks.main:
            saved = saved_state(config, run, title, ranks, repair=False)
        data = data or load(spec, config.data_dir, download=False)
        splits = split_data(data, config.val_size, config.augment)

        # Seeded in this order (the first weights, then the data order); each epoch reseeds below.
        paddle.seed(config.seed)
        np.random.seed(config.seed)
        model = build_with_options(config, spec.num_classes, splits.in_shape)
        loader = make_loader(
            splits.train, config.batch_size, shuffle=True, seed=config.seed, rank=ranks.rank, world=ranks.world
        )
        steps = min(len(loader), config.max_steps) if config.max_steps else len(loader)
        optimizer, schedule = make_optimizer(config, model, steps)
        scaler = paddle.amp.GradScaler() if config.amp else None
        card = new_card(config, entry, spec, data, splits, model, device, ranks)
        if saved:
            start = restore(saved, model, optimizer, card, config, log)
        else:
            start = 0
            log(summary(model, splits.in_shape))
        if ranks.world > 1:
            log(
                f"{ranks.world} processes, batch {config.batch_size} each: {config.batch_size * ranks.world} "
                "images a step"
            )
        trainer = wrap(model, ranks)  # what the steps call: DataParallel averages gradients over the processes

        for epoch in range(start, config.epochs):
            seed_epoch(config.seed, epoch, ranks.rank)  # dropout and augmentation, as in an uninterrupted run
            loader.dataset.set_epoch(epoch)  # the order of epoch `epoch`, likewise
            trained = train_one_epoch(
                trainer, loader, optimizer, schedule, config, epoch, steps, entry.task, spec.num_classes, scaler, ranks
            )
            average_buffers(model, ranks)  # batch norm's statistics, gathered by each process from its own images
            test = evaluate(model, splits.test, entry.task, spec.num_classes, ranks=ranks)
            val = None
            if splits.val is not None:
                val = evaluate(model, splits.val, entry.task, spec.num_classes, ranks=ranks)
            record = epoch_record(epoch, trained, test, val)
            card["epochs"].append(record)
            card["seconds"] += record["seconds"]
            kept = keep_best(card, record)
            if ranks.main:
                card = run.commit(card, model.state_dict(), optimizer.state_dict(), kept=kept, title=title)
            log(describe_epoch(record, config.epochs))
        return card


@contextlib.contextmanager
def claimed(run: RunFiles, resume: bool, overwrite: bool, lock: bool = True) -> Iterator[None]:
    """Hold ``run`` while the block trains it: its lock (one process per run name; ``lock`` False
    for the other processes of a launched run, whose rank 0 holds it), a fresh Paddle name scope,
    no saved run replaced by accident; if Ctrl-C ends it, the KeyboardInterrupt's message says what
    was saved (``interrupted: runs/cnn is saved up to epoch 3; continue with: ...``)."""
    # Paddle names parameters and optimizer accumulators from process-wide counters
    # ("linear_0.w_0_moment1_0"); a fresh name scope makes a saved optimizer state load
    # into any later run, in this process or another.
    with run.locked() if lock else contextlib.nullcontext(), paddle.utils.unique_name.guard():
        if not resume and run.exists() and not overwrite:
            raise UserError(
                f"{run} already holds a saved model or run ({run.card.name}); continue it with --resume, "
                "replace it with --overwrite, or choose another --name"
            )
        try:
            yield
        except KeyboardInterrupt as interruption:  # Ctrl-C, or SIGTERM where the tool made it one
            # Said once, by whoever catches it: train.py's edge prints it as its one line.
            interruption.args = (f"interrupted: {run.saved_so_far()}",)
            raise
