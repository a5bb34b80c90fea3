"""Learn from your misreads: fine-tune a trained model on your own labelled pictures.

    python train.py --finetune models/cnn.pdparams --pictures my_digits/      # -> runs/cnn-finetuned.*
    python infer.py my_digits/ --model runs/cnn-finetuned.pdparams

``--pictures`` holds your pictures with their true labels, either as sub-folders named by the
label (``my_digits/7/a.jpg``) or as file names that start with it (``my_digits/7_crossed.png``);
a class with two cases (EMNIST's ``a/A``) may be named by either case. Each picture is prepared
exactly as ``infer.py`` prepares it, so the model learns from what it will see.

Every step's batch mixes your pictures (a quarter of it, drawn again and again, freshly augmented
each time) with images replayed from the dataset the model was trained on (the rest), so the model
learns your hand without forgetting everyone else's. Before and after, it reads your pictures and
scores the dataset's test split, and says both; the card of the new checkpoint records them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from handwriting.errors import UserError, counted
from handwriting.preprocess.pixels import MNIST_SIZE

PICTURE_SHARE = 0.25  # of every batch: the user's pictures; the rest is replayed training data
DEFAULT_STEPS = 150
DEFAULT_LR = 1e-4  # a small step: the model is already trained, it only needs to bend a little
DEFAULT_BATCH = 128  # 32 of your pictures and 96 replayed: enough replay that the rest is not forgotten


@dataclass
class Labelled:
    """A folder of labelled pictures, prepared: frames uint8 [N, 28, 28], class indices [N], paths."""

    frames: np.ndarray
    labels: np.ndarray
    paths: list[str]


def class_aliases(classes: list[str]) -> dict[str, int]:
    """Every name a label may be written as -> its class index: ``"7"``, and ``"a/A"``, ``"a"``, ``"A"``."""
    aliases = {}
    for index, name in enumerate(classes):
        for alias in [name, *name.split("/")]:
            aliases.setdefault(alias, index)
    return aliases


def find_labelled(folder: str | Path, classes: list[str]) -> list[tuple[Path, int]]:
    """(picture, class index) for every picture in ``folder``: in a sub-folder named by its label,
    or named ``<label>_anything.<ext>``. Raises ``UserError`` for a label the model does not know."""
    from handwriting.recognise import picture_suffixes

    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"--pictures {folder}: no such folder")
    aliases, suffixes = class_aliases(classes), picture_suffixes()
    found, unknown = [], {}
    for path in sorted(folder.rglob("*")):
        if not path.is_file() or path.suffix.lower() not in suffixes:
            continue
        relative = path.relative_to(folder)
        label = relative.parts[0] if len(relative.parts) > 1 else path.stem.split("_", 1)[0]
        if label in aliases:
            found.append((path, aliases[label]))
        else:
            unknown.setdefault(label, relative)
    if unknown:
        names = ", ".join(f"{label!r} ({unknown[label]})" for label in sorted(unknown)[:5])
        raise UserError(
            f"--pictures {folder}: {names} {'is not a label' if len(unknown) == 1 else 'are not labels'} of this "
            f"model ({', '.join(classes[:12])}{', ...' if len(classes) > 12 else ''}); put each picture in a folder "
            "named by its label (7/photo.jpg) or name it so (7_photo.jpg)"
        )
    if not found:
        raise UserError(
            f"--pictures {folder}: no pictures found; put them in label folders (7/photo.jpg) or name them 7_*.png"
        )
    return found


def prepare_labelled(found: list[tuple[Path, int]], framing: str) -> Labelled:
    """Read and frame every picture as ``infer.py`` does; a picture that cannot be read is an error."""
    from handwriting.recognise import prepare

    frames, labels, paths = [], [], []
    for path, label in found:
        frame, _, error = prepare(str(path), framing)
        if error is not None:
            raise UserError(f"{path}: {error}; fix or remove it from --pictures")
        frames.append(frame)
        labels.append(label)
        paths.append(str(path))
    return Labelled(np.stack(frames), np.array(labels, dtype=np.int64), paths)


def read_as(model, frames: np.ndarray, num_classes: int) -> np.ndarray:
    """The class ``model`` reads each uint8 frame [N, 28, 28] as, [N]."""
    from handwriting.evaluate import predict

    return predict(model, "classify", frames, num_classes)[0]


def finetune(
    checkpoint: str | Path,
    pictures: str | Path,
    out: str | Path = "runs",
    name: str | None = None,
    steps: int = DEFAULT_STEPS,
    lr: float = DEFAULT_LR,
    batch_size: int = DEFAULT_BATCH,
    seed: int = 0,
    data_dir: str | None = None,
    overwrite: bool = False,
    log=print,
) -> tuple[dict, Path]:
    """Fine-tune ``checkpoint`` on the labelled ``pictures`` with replay; save ``out/name`` (default
    ``<checkpoint>-finetuned``) -> (its card, whose "finetune" says what changed; its weights' path)."""
    import paddle
    import paddle.nn.functional as F
    from tqdm import tqdm

    from handwriting.atomic import write_bytes
    from handwriting.augment import BATCH_AUGMENTATIONS
    from handwriting.backends import card_framing
    from handwriting.checkpoint import load_model, save_card, sha256_of
    from handwriting.checkpoint import stem as checkpoint_stem
    from handwriting.data.store import load_for_card
    from handwriting.engine import evaluate
    from handwriting.preprocess import normalize
    from handwriting.runs import RunFiles
    from handwriting.weights import state_bytes

    if steps < 1 or batch_size < 2 or lr <= 0 or seed < 0:
        raise UserError(
            f"fine-tuning needs --finetune-steps >= 1, --batch-size >= 2, --lr > 0 and --seed >= 0 "
            f"(got {steps}, {batch_size}, {lr}, {seed})"
        )
    run = RunFiles(out, name or f"{checkpoint_stem(checkpoint).name}-finetuned")
    model, card = load_model(checkpoint)
    if card["model"]["task"] != "classify":
        raise UserError(f"{checkpoint}: a regression model cannot be fine-tuned on labelled pictures")
    if list(card["model"]["in_shape"]) != [1, MNIST_SIZE, MNIST_SIZE]:
        raise UserError(f"{checkpoint}: its model takes {card['model']['in_shape']} inputs; pictures become 1x28x28")
    classes = list(card["classes"])
    mine = prepare_labelled(find_labelled(pictures, classes), card_framing(card, checkpoint))
    if run.exists() and not overwrite:  # said before the data loads; checked again under the lock
        raise UserError(f"{run} already holds a model; replace it with --overwrite, or choose another --name")
    data = load_for_card(card, checkpoint, data_dir)
    train, test = data.splits["train"], data.splits["test"]
    config = card.get("config") if isinstance(card.get("config"), dict) else {}
    recipe = config.get("augment")  # the model's own, when it is one done batch by batch
    augment = BATCH_AUGMENTATIONS[recipe if isinstance(recipe, str) and recipe in BATCH_AUGMENTATIONS else "affine"]

    with run.locked():
        if run.exists() and not overwrite:
            raise UserError(f"{run} already holds a model; replace it with --overwrite, or choose another --name")
        before_read = read_as(model, mine.frames, len(classes))
        before_test = evaluate(model, test, "classify", len(classes))["accuracy"]
        log(
            f"before: {int((before_read == mine.labels).sum())} of {counted(len(mine.labels), 'picture')} read right, "
            f"{data.spec.name} test accuracy {before_test:.2%}"
        )
        paddle.seed(seed)
        rng = np.random.default_rng(seed)
        optimizer = paddle.optimizer.AdamW(lr, parameters=model.parameters(), weight_decay=0.0)
        own = max(1, round(batch_size * PICTURE_SHARE))
        started = time.perf_counter()
        model.train()
        for _ in tqdm(range(steps), desc="fine-tuning", leave=False, disable=None):
            picked = rng.integers(len(mine.labels), size=own)
            replayed = rng.integers(len(train), size=batch_size - own)
            images = np.concatenate([mine.frames[picked], train.images[replayed]])  # uint8 [B, 28, 28]
            labels = np.concatenate([mine.labels[picked], train.labels[replayed]])
            batch = augment(paddle.to_tensor(normalize(images)[:, None]))  # [B, 1, 28, 28] in [-1, 1]
            loss = F.cross_entropy(model(batch), paddle.to_tensor(labels))
            loss.backward()
            optimizer.step()
            optimizer.clear_grad()
        seconds = time.perf_counter() - started
        model.eval()
        after_read = read_as(model, mine.frames, len(classes))
        after_test = evaluate(model, test, "classify", len(classes))["accuracy"]
        log(
            f"after {counted(steps, 'step')} ({seconds:.0f} s): {int((after_read == mine.labels).sum())} of "
            f"{len(mine.labels)} read right, {data.spec.name} test accuracy {after_test:.2%} "
            f"({(after_test - before_test) * 100:+.2f} points)"
        )
        weights = state_bytes(model.state_dict())
        new_card = {
            key: value for key, value in card.items() if key not in ("resume", "kept_epoch", "best_val_accuracy")
        }
        new_card.update(
            weights_sha256=sha256_of(weights),
            test_accuracy=after_test,
            finetune={
                "from": str(checkpoint),
                "pictures": str(pictures),
                "count": len(mine.labels),
                "steps": steps,
                "lr": lr,
                "batch_size": batch_size,
                "picture_share": PICTURE_SHARE,
                "seed": seed,
                "seconds": seconds,
                "read_right_before": int((before_read == mine.labels).sum()),
                "read_right_after": int((after_read == mine.labels).sum()),
                "test_accuracy_before": before_test,
                "test_accuracy_after": after_test,
            },
        )
        # The old card goes first and the new one last: a kill in between leaves weights with no
        # card (refused as "no card"), never new weights beside another model's card. What a
        # replaced training run kept (its log and curves) described another model: gone too.
        for stale in (run.card, run.log, run.curves):
            stale.unlink(missing_ok=True)
        write_bytes(run.weights, weights)
        save_card(run.card, new_card)
    return new_card, run.weights
