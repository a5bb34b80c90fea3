"""The fully connected networks of the source articles, built from ``layers``.

``mlp(hidden=(200,), activation="sigmoid")`` is the articles' 784-200-10 sigmoid net. Its layers
are numbered as Paddle numbers ``handwriting.models.MLP``'s (``Flatten`` first, then ``Linear``,
activation, [``Dropout``] ...), so ``state_dict`` names match: ``layers.1.weight`` [784, 200] ...
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from handwriting.scratch.layers import Dropout, Flatten, Layer, Linear, ReLU, Sequential, Sigmoid, Tanh

ACTIVATIONS = {"sigmoid": Sigmoid, "relu": ReLU, "tanh": Tanh}


def mlp(
    hidden: Sequence[int] = (200,),
    activation: str = "sigmoid",
    num_classes: int = 10,
    in_features: int = 784,
    dropout: float = 0.0,
    bias: bool = True,
    init: str = "normal",
    sigmoid_output: bool = False,
    seed: int = 0,
    dtype=np.float32,
) -> Sequential:
    """Flatten -> [Linear -> activation (-> Dropout)] per hidden size -> Linear (-> Sigmoid).

    ``sigmoid_output`` ends with a sigmoid, for the squared-error loss of the articles (their
    net also has no biases: ``bias=False``); without it the network returns logits.
    """
    if activation not in ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r}; choose one of: {', '.join(ACTIVATIONS)}")
    rng = np.random.default_rng(seed)
    layers: list[Layer] = [Flatten()]
    width = in_features
    for size in hidden:
        layers += [Linear(width, size, bias, init, rng, dtype), ACTIVATIONS[activation]()]
        if dropout:
            layers.append(Dropout(dropout, rng))
        width = size
    layers.append(Linear(width, num_classes, bias, init, rng, dtype))
    if sigmoid_output:
        layers.append(Sigmoid())
    return Sequential(*layers)


def network_options(
    hidden: Sequence[int],
    activation: str,
    num_classes: int,
    image_shape: tuple[int, ...],
    dropout: float = 0.0,
    bias: bool = True,
    sigmoid_output: bool = False,
) -> dict:
    """What decides a network's layers, in JSON types, as its card stores them: ``mlp(**options)``
    rebuilds the network. ``image_shape`` is one input's shape ([28, 28] or [1, 28, 28] for MNIST);
    the first layer takes all its pixels (``in_features``, 784 for MNIST)."""
    return {
        "hidden": [int(size) for size in hidden],
        "activation": activation,
        "num_classes": int(num_classes),
        "in_features": int(np.prod(image_shape)),
        "dropout": float(dropout),
        "bias": bool(bias),
        "sigmoid_output": bool(sigmoid_output),
    }
