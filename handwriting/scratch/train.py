"""Training the NumPy network: mini-batches (or one example at a time, as the articles do).

Everything here is NumPy. ``fit`` runs epochs over uint8 images and reports after each one;
the command line (``python -m handwriting.scratch``) adds the data and a progress bar.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from handwriting.preprocess import normalize
from handwriting.rotation import with_rotated_copies
from handwriting.scratch.layers import Sequential
from handwriting.scratch.losses import LOSSES
from handwriting.scratch.net import mlp, network_options
from handwriting.scratch.optim import OPTIMIZERS


# How uint8 pixels (white ink on black) become the network's input, [N, 28, 28] -> float32.
# "minus-one-to-one" is the design card's, the very function the Paddle models are fed by.
def _zero_to_one(pixels: np.ndarray) -> np.ndarray:
    return pixels.astype(np.float32) / 255.0  # the NumPy EMNIST article's


def _article(pixels: np.ndarray) -> np.ndarray:
    return pixels.astype(np.float32) / 255.0 * 0.99 + 0.01  # Make Your Own Neural Network's: never 0


INPUTS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "minus-one-to-one": normalize,
    "zero-to-one": _zero_to_one,
    "0.01-to-1": _article,
}


@dataclass
class ScratchConfig:
    """Everything that decides a run; saved beside the weights. Defaults: our best settings."""

    hidden: tuple[int, ...] = (200,)
    activation: str = "sigmoid"
    loss: str = "cross-entropy"
    optimizer: str = "adam"
    lr: float = 0.004
    lr_decay: float = 0.93  # the learning rate is multiplied by this after every epoch
    momentum: float = 0.9
    epochs: int = 30
    batch_size: int = 256
    augment: str = "shift"
    inputs: str = "minus-one-to-one"
    init: str = "normal"
    bias: bool = True
    dropout: float = 0.0
    seed: int = 0

    def network_options(self, num_classes: int, image_shape: tuple[int, ...]) -> dict:
        """The options of the network this config trains on images of ``image_shape``, as its card
        stores them (``net.network_options``)."""
        return network_options(
            hidden=self.hidden,
            activation=self.activation,
            num_classes=num_classes,
            image_shape=image_shape,
            dropout=self.dropout,
            bias=self.bias,
            sigmoid_output=self.loss == "squared-error",
        )

    def build(self, num_classes: int, image_shape: tuple[int, ...]) -> Sequential:
        """A freshly initialised network for ``num_classes`` classes and images of ``image_shape``."""
        for name, value, known in (
            ("loss", self.loss, LOSSES),
            ("optimizer", self.optimizer, OPTIMIZERS),
            ("inputs", self.inputs, INPUTS),
            ("augment", self.augment, AUGMENTATIONS),
        ):
            if value not in known:
                raise ValueError(f"unknown {name} {value!r}; choose one of: {', '.join(known)}")
        return mlp(**self.network_options(num_classes, image_shape), init=self.init, seed=self.seed)


# ----------------------------------------------------------------------------- augmentation


SHIFT = 2  # "shift" moves each image by up to this many pixels in each direction


def shift(padded: np.ndarray, rng: np.random.Generator, most: int = SHIFT) -> np.ndarray:
    """Digits padded by ``most`` px on every side, uint8 [N, H + 2 most, W + 2 most] -> each cut
    back to [N, H, W] at a random offset: moved by up to ``most`` px each way, 0 coming in."""
    n, height, width = padded.shape[0], padded.shape[1] - 2 * most, padded.shape[2] - 2 * most
    windows = np.lib.stride_tricks.sliding_window_view(padded, (height, width), axis=(1, 2))  # [N, 5, 5, H, W]
    return windows[np.arange(n), rng.integers(0, 2 * most + 1, n), rng.integers(0, 2 * most + 1, n)]


# "shift" works batch by batch (fresh offsets every time an image is drawn); "rotate10" once, before
# training (``training_set``).
AUGMENTATIONS = ("none", "rotate10", "shift")


def training_set(config: ScratchConfig, images: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """uint8 images [N, 28, 28] and labels [N] -> what the epochs draw their batches from.

    ``rotate10``: the data plus copies turned by +10 and -10 degrees, fixed for the run as in the
    articles, and made by the same function as the Paddle trainer's ([3N, 28, 28], labels repeated).
    ``shift``: every image padded by ``SHIFT`` px once ([N, 32, 32]); each batch is cut out of it at
    fresh offsets. Otherwise the data as it is.
    """
    if config.augment == "rotate10":
        return with_rotated_copies(images, labels)
    if config.augment == "shift":
        return np.pad(images, ((0, 0), (SHIFT, SHIFT), (SHIFT, SHIFT))), labels
    return images, labels


# ----------------------------------------------------------------------------- training


def predictions_and_loss(
    net: Sequential,
    images: np.ndarray,
    labels: np.ndarray,
    inputs: str,
    loss: str | None = None,
    batch_size: int = 2000,
) -> tuple[np.ndarray, float | None]:
    """uint8 images [N, 28, 28] and their labels [N] -> the class each is read as (int64 [N]), and
    the mean of the ``loss`` named (a key of ``LOSSES``) over them, or None when no loss is named.

    The network is put in eval mode (no dropout). Batches keep memory flat on EMNIST's 116,323."""
    net.eval()
    scale = INPUTS[inputs]
    measure = LOSSES[loss]() if loss else None
    predicted = np.empty(len(images), dtype=np.int64)
    total_loss = 0.0
    for start in range(0, len(images), batch_size):
        outputs = net.forward(scale(images[start : start + batch_size]))  # [B, classes]
        predicted[start : start + len(outputs)] = outputs.argmax(axis=1)
        if measure:
            total_loss += measure.forward(outputs, labels[start : start + batch_size]) * len(outputs)
    return predicted, (total_loss / max(1, len(images)) if measure else None)


def accuracy(net: Sequential, images: np.ndarray, labels: np.ndarray, inputs: str, batch_size: int = 2000) -> float:
    """Share of ``images`` (uint8 [N, 28, 28]) whose highest output is the label."""
    predicted, _ = predictions_and_loss(net, images, labels, inputs, batch_size=batch_size)
    return share_right(predicted, labels)


def share_right(predicted: np.ndarray, labels: np.ndarray) -> float:
    """Share of ``predicted`` classes [N] equal to ``labels`` [N]; 0 for no images."""
    return int(np.count_nonzero(predicted == labels)) / max(1, len(labels))


def fit(
    config: ScratchConfig,
    train: tuple[np.ndarray, np.ndarray],
    test: tuple[np.ndarray, np.ndarray] | None = None,
    num_classes: int = 10,
    on_batch: Callable[[int], None] | None = None,
    on_epoch: Callable[[dict], None] | None = None,
) -> tuple[Sequential, list[dict]]:
    """Train a network from ``config`` on uint8 images [N, 28, 28] and int labels [N].

    ``num_classes`` is the network's number of outputs; ``labels`` run from 0 to one less.
    Returns the network and one record per epoch: its learning rate, training loss and accuracy,
    seconds and images/s, and with ``test`` the test loss and accuracy (the curves' four lines).
    ``on_batch(n)`` is called with each batch's size (progress bars); ``on_epoch(record)``
    after each epoch. With ``batch_size`` 1 and plain SGD this is the articles' loop, one
    example at a time.
    """
    images, labels = train
    rng = np.random.default_rng(config.seed)
    net = config.build(num_classes, images.shape[1:])  # [28, 28]: before any padding
    loss = LOSSES[config.loss]()
    options = {"momentum": config.momentum} if config.optimizer == "momentum" else {}
    optimizer = OPTIMIZERS[config.optimizer](net, lr=config.lr, **options)
    scale = INPUTS[config.inputs]
    images, labels = training_set(config, images, labels)
    history = []
    for epoch in range(1, config.epochs + 1):
        start = time.perf_counter()
        order = rng.permutation(len(images))
        net.train()
        total_loss, right = 0.0, 0
        for first in range(0, len(order), config.batch_size):
            batch = order[first : first + config.batch_size]
            pixels = shift(images[batch], rng) if config.augment == "shift" else images[batch]  # [B, 28, 28]
            x, y = scale(pixels), labels[batch]
            outputs = net.forward(x)
            total_loss += loss.forward(outputs, y) * len(batch)
            right += int((outputs.argmax(axis=1) == y).sum())
            net.backward(loss.backward(), input_gradient=False)
            optimizer.step()
            if on_batch:
                on_batch(len(batch))
        seconds = time.perf_counter() - start
        record = {
            "epoch": epoch,
            "lr": optimizer.lr,
            "train_loss": total_loss / len(order),
            "train_accuracy": right / len(order),
            "seconds": seconds,
            "images_per_second": len(order) / seconds,
        }
        if test is not None:
            test_images, test_labels = test
            predicted, record["test_loss"] = predictions_and_loss(
                net, test_images, test_labels, config.inputs, config.loss
            )
            record["test_accuracy"] = share_right(predicted, test_labels)
        history.append(record)
        if on_epoch:
            on_epoch(record)
        optimizer.lr *= config.lr_decay
    net.eval()
    return net, history
