"""The training engine: one epoch of training, evaluation, and the whole run with checkpoints.

Kept free of argument parsing so a notebook can call ``fit`` directly; ``train.py`` only
turns flags into a ``TrainConfig``.
"""

from __future__ import annotations

import math
import platform
import time
from dataclasses import asdict

import numpy as np
import paddle
import paddle.nn.functional as F
from tqdm import tqdm

from handwriting import checkpoint
from handwriting.augment import random_affine, rotated_copies
from handwriting.config import AUGMENTATIONS, OPTIMIZERS, RESUME_MAY_CHANGE, SCHEDULES, TrainConfig
from handwriting.data import get_spec, load
from handwriting.data.loader import make_loader
from handwriting.data.store import LoadedDataset, SplitArrays
from handwriting.errors import UserError
from handwriting.models import build_model, count_parameters, decide, model_entry, resolved_options, summary
from handwriting.preprocess.pixels import NORMALISATION
from handwriting.runs import RunFiles
from handwriting.runtime import pick_device


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


def evaluate(model, split, task: str, num_classes: int, batch_size: int = 1000) -> dict:
    """Loss and accuracy of ``model`` on a whole split (in order, no shuffling, no dropout)."""
    model.eval()
    total_loss, correct = 0.0, 0
    with paddle.no_grad():
        for images, labels in make_loader(split, batch_size, shuffle=False):
            loss, right = loss_and_correct(task, model(images), labels, num_classes)
            total_loss += float(loss) * len(labels)
            correct += int(right)
    model.train()
    return {"loss": total_loss / len(split), "accuracy": correct / len(split)}


def make_optimizer(config: TrainConfig, model, steps_per_epoch: int):
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


def seed_epoch(seed: int, epoch: int) -> None:
    """Seed Paddle's generator from (seed, epoch): dropout in epoch e is the same whether or not
    the run was interrupted before it, which is what makes --resume exact."""
    paddle.seed(seed * 100_003 + epoch)


def fit(
    config: TrainConfig, resume: bool = False, data: LoadedDataset | None = None, log=print, overwrite: bool = False
) -> dict:
    """Train ``config.model`` on ``config.dataset``, saving a checkpoint after every epoch.

    ``resume`` continues the run saved under ``config.out``/``config.run_name``; without it, a
    name that already holds a run is refused unless ``overwrite``. Returns the checkpoint card
    (also written to ``<out>/<name>.json``).
    """
    run = RunFiles(config.out, config.run_name)  # refuses a --name that is not a plain file name
    # Paddle names parameters and optimizer accumulators from process-wide counters
    # ("linear_0.w_0_moment1_0"); a fresh name scope makes a saved optimizer state load
    # into any later run, in this process or another.
    with run.locked(), paddle.utils.unique_name.guard():
        if not resume and run.exists() and not overwrite:
            raise UserError(
                f"{run} already holds a saved model or run ({run.card.name}); continue it with --resume, "
                "replace it with --overwrite, or choose another --name"
            )
        try:
            return _fit(config, run, resume, data, log)
        except KeyboardInterrupt:
            log(f"interrupted: {run.saved_so_far()}")
            raise


def check_same_settings(config: TrainConfig, card: dict, run: RunFiles) -> None:
    """--resume continues a run exactly, so only with the settings it was started with: refuse any
    other, in one line. More --epochs are allowed only on a constant learning rate (a schedule
    was planned for the run's own number of steps)."""
    saved = card.get("config") if isinstance(card.get("config"), dict) else {}
    wanted = asdict(config)
    differ = [key for key in wanted if key in saved and key not in RESUME_MAY_CHANGE and saved[key] != wanted[key]]
    if differ == ["epochs"] and config.lr_schedule == "constant" and config.epochs > saved["epochs"]:
        return
    if differ:
        started = ", ".join(f"--{key.replace('_', '-')} {saved.get(key)}" for key in differ)
        asked = ", ".join(f"{wanted[key]}" for key in differ)
        raise UserError(
            f"--resume: {run} was started with {started}, not {asked}; a resumed run keeps its settings "
            "(train.py takes them from its card: leave those flags out), or start a new run with another --name"
        )


def _fit(config: TrainConfig, run: RunFiles, resume: bool, data: LoadedDataset | None, log) -> dict:
    if config.augment not in AUGMENTATIONS:
        raise UserError(f"unknown --augment {config.augment!r}; choose one of: {', '.join(AUGMENTATIONS)}")
    entry = model_entry(config.model)
    spec = get_spec(config.dataset)
    title = config.model if config.run_name == config.model else f"{config.run_name} ({config.model})"
    title = f"{title} on {spec.name}"
    # What --resume continues from, checked (and a save a killed process left unfinished, completed)
    # before any data is loaded: a run that cannot continue says so at once.
    if resume and run.card.exists():
        saved_card = checkpoint.read_card(run.card)
        if "resume" in saved_card:  # else run.resume says why this card cannot be continued
            check_same_settings(config, saved_card, run)
    saved = run.resume(title) if resume else None
    device = pick_device(config.device)
    data = data or load(spec, config.data_dir)
    train_split, test_split = data.splits["train"], data.splits["test"]
    val_split = None
    if config.val_size:
        if not 0 < config.val_size < len(train_split):
            raise UserError(f"--val-size must be between 1 and {len(train_split) - 1}, got {config.val_size}")
        cut = len(train_split) - config.val_size  # held out before any augmentation: no rotated copies leak
        val_split = SplitArrays(train_split.images[cut:], train_split.labels[cut:])
        train_split = SplitArrays(train_split.images[:cut], train_split.labels[:cut])
    in_shape = (1, *train_split.images.shape[1:])
    if config.augment == "rotate10":
        train_split = rotated_copies(train_split)

    paddle.seed(config.seed)
    np.random.seed(config.seed)
    model = build_model(config.model, num_classes=spec.num_classes, in_shape=in_shape, **config.model_options)
    loader = make_loader(train_split, config.batch_size, shuffle=True, seed=config.seed)
    steps_per_epoch = len(loader)
    if config.max_steps:
        steps_per_epoch = min(steps_per_epoch, config.max_steps)
    optimizer, schedule = make_optimizer(config, model, steps_per_epoch)

    card = {
        "model": {
            "name": config.model,
            "task": entry.task,
            "options": resolved_options(config.model, **config.model_options),
            "in_shape": in_shape,
        },
        "classes": list(spec.classes),
        "normalisation": NORMALISATION,
        "dataset": {
            "name": spec.name,
            "sha256": data.checksums,
            "train": len(train_split),
            "val": config.val_size,
            "test": len(test_split),
        },
        "parameters": count_parameters(model),
        "config": asdict(config),
        "paddle": paddle.__version__,
        "python": platform.python_version(),
        "device": device,
        "epochs": [],
        "seconds": 0.0,
    }
    start_epoch = 0
    if saved:
        previous, weights, optimizer_state = saved
        detail = checkpoint.state_mismatch(model.state_dict(), weights)
        if detail:
            raise UserError(f"--resume: the saved weights do not fit this {config.model!r} model ({detail})")
        model.set_state_dict(weights)
        optimizer.set_state_dict(optimizer_state)
        for key in ("epochs", "seconds", "kept_epoch", "test_accuracy", "best_val_accuracy", "resume"):
            if key in previous:
                card[key] = previous[key]
        start_epoch = len(previous["epochs"])
        if start_epoch >= config.epochs:
            more = (
                "raise --epochs to train further"
                if config.lr_schedule == "constant"
                else f"its {config.lr_schedule} schedule ends there; train longer in a new run (--name, --epochs)"
            )
            log(f"{config.run_name} already has {start_epoch} epochs; {more}")
        else:
            log(f"resuming {config.run_name} after epoch {start_epoch}")
    else:
        log(summary(model, in_shape))

    for epoch in range(start_epoch, config.epochs):
        seed_epoch(config.seed, epoch)
        loader.dataset.set_epoch(epoch)
        model.train()
        started = time.perf_counter()
        seen, total_loss, correct = 0, 0.0, 0
        bar = tqdm(loader, total=steps_per_epoch, desc=f"epoch {epoch + 1}/{config.epochs}", leave=False)
        for step, (images, labels) in enumerate(bar):
            if step >= steps_per_epoch:
                break
            if config.augment == "affine":
                images = random_affine(images)
            loss, right = loss_and_correct(entry.task, model(images), labels, spec.num_classes)
            loss.backward()
            optimizer.step()
            optimizer.clear_grad()
            if schedule is not None:
                schedule.step()
            seen += len(labels)
            total_loss += loss.detach() * len(labels)  # stays a tensor: no device sync per step
            correct += right
            if step % 50 == 0:
                bar.set_postfix(
                    loss=f"{float(total_loss) / seen:.4f}", acc=f"{float(correct) / seen:.4f}", refresh=False
                )
        bar.close()
        total_loss, correct = float(total_loss), int(correct)
        seconds = time.perf_counter() - started
        test = evaluate(model, test_split, entry.task, spec.num_classes)
        val = evaluate(model, val_split, entry.task, spec.num_classes) if val_split else None
        record = {
            "epoch": epoch + 1,
            "train_loss": total_loss / seen,
            "train_accuracy": correct / seen,
            "test_loss": test["loss"],
            "test_accuracy": test["accuracy"],
            "seconds": seconds,
            "images_per_second": seen / seconds,
        }
        if val:
            record["val_loss"], record["val_accuracy"] = val["loss"], val["accuracy"]
        if not math.isfinite(record["train_loss"]):
            raise UserError(f"training diverged in epoch {epoch + 1} (loss {record['train_loss']}); lower --lr")
        card["epochs"].append(record)
        card["seconds"] += seconds
        # The kept weights: the best epoch on the held-out images, or simply the latest when
        # there are none (choosing by test accuracy would tune on the test set).
        kept = val is None or val["accuracy"] > card.get("best_val_accuracy", -1.0)
        if kept:
            card["kept_epoch"] = epoch + 1
            card["test_accuracy"] = test["accuracy"]
            if val:
                card["best_val_accuracy"] = val["accuracy"]
        card = run.commit(card, model.state_dict(), optimizer.state_dict(), kept=kept, title=title)
        log(
            f"epoch {epoch + 1}/{config.epochs}: train loss {record['train_loss']:.4f} "
            f"acc {record['train_accuracy']:.4f} | test loss {test['loss']:.4f} acc {test['accuracy']:.4f} | "
            f"{seconds:.1f} s, "
            f"{record['images_per_second']:.0f} images/s"
        )
    return card
