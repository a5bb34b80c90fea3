"""The models, in a registry chosen by name (``--model``).

Every model takes ``num_classes`` and the input shape, computes its own layer sizes, and
``forward`` returns raw outputs: logits ``[N, num_classes]`` for classifiers, or one value
``[N, 1]`` for the regression baseline. Softmax and the loss live in the training loop, so
nothing is applied twice; ``decide`` turns outputs into predicted classes, the one rule that
training metrics, ``infer.py`` and ``handwriting.evaluate`` share.
"""

from __future__ import annotations

import inspect
import warnings
from dataclasses import dataclass
from typing import Callable

from handwriting.runtime import quiet_paddle_import_warnings

quiet_paddle_import_warnings()  # before Paddle's import: `python -m handwriting.models` imports it here

import paddle  # noqa: E402
from paddle import nn  # noqa: E402

from handwriting.errors import UserError  # noqa: E402

InShape = tuple[int, int, int]  # (channels, height, width)

# Paddle 3's BatchNorm2D warns on every training forward that it "now always tracks global mean
# and variance" — a note about a change of its defaults, not about our use (we want exactly that).
# Hidden here, by its exact text, so a training run's output stays readable.
warnings.filterwarnings("ignore", message="When training, we now always track global mean and variance")


@dataclass(frozen=True)
class ModelEntry:
    """A registered model: how to build it and how to train and read it."""

    name: str
    build: Callable[..., nn.Layer]
    task: str  # "classify": logits + cross-entropy; "regress": one number + squared error
    about: str


MODELS: dict[str, ModelEntry] = {}


def register(name: str, task: str = "classify", about: str = ""):
    """Class decorator adding a model to ``MODELS`` under ``name``."""

    def add(cls):
        MODELS[name] = ModelEntry(name, cls, task, about or (cls.__doc__ or "").strip().splitlines()[0])
        return cls

    return add


def model_entry(name: str) -> ModelEntry:
    try:
        return MODELS[name]
    except KeyError:
        raise UserError(f"unknown model {name!r}; choose one of: {', '.join(MODELS)}") from None


def build_model(name: str, num_classes: int = 10, in_shape: InShape = (1, 28, 28), **options) -> nn.Layer:
    """Build a registered model; ``options`` are its own constructor arguments.

    Parameter names restart from zero for every model built (``linear_0.w_0``...), so an
    optimizer state saved by one process loads into a model built by another.
    """
    with paddle.utils.unique_name.guard():
        return model_entry(name).build(num_classes=num_classes, in_shape=tuple(in_shape), **options)


def resolved_options(name: str, **options) -> dict:
    """Every constructor argument of model ``name`` except the data-given ones, defaults filled in.

    Checkpoint cards store these, so a model is rebuilt exactly even after a default changes.
    """
    signature = inspect.signature(model_entry(name).build)
    own = [key for key in signature.parameters if key not in ("num_classes", "in_shape")]
    for key in options:
        if key in ("num_classes", "in_shape"):
            listed = ", ".join(own)
            raise UserError(f"model {name!r}: {key} comes from the dataset, not an option; its options: {listed}")
        if key not in own:
            raise UserError(f"model {name!r} has no option {key!r}; its options: {', '.join(own) or 'none'}")
    try:
        bound = signature.bind(**options)
    except TypeError as error:
        raise UserError(f"model {name!r}: {error}") from None
    bound.apply_defaults()
    arguments = {key: value for key, value in bound.arguments.items() if key not in ("num_classes", "in_shape")}
    return {key: list(value) if isinstance(value, tuple) else value for key, value in arguments.items()}


def count_parameters(model: nn.Layer) -> int:
    return sum(int(parameter.size) for parameter in model.parameters())


def decide(task: str, outputs: paddle.Tensor, num_classes: int) -> tuple[paddle.Tensor, paddle.Tensor | None]:
    """The class each output stands for [N] int64, and its softmax probability [N] (None for regression).

    ``task`` is the model's (``model_entry(name).task``). Classifiers: the arg-max of the logits
    [N, C]. Regression: the value [N, 1] rounded and clipped to a class.
    """
    if task == "regress":
        return paddle.clip(paddle.round(outputs.squeeze(-1)), 0, num_classes - 1).astype("int64"), None
    probabilities = nn.functional.softmax(outputs, axis=-1)
    return probabilities.argmax(axis=-1), probabilities.max(axis=-1)


ACTIVATIONS = {"sigmoid": nn.Sigmoid, "relu": nn.ReLU, "tanh": nn.Tanh}


def _flat_size(in_shape: InShape) -> int:
    channels, height, width = in_shape
    return channels * height * width


@register("linreg", task="regress")
class LinearRegression(nn.Layer):
    """784 -> 1 regression on the digit's value (the Paddle tutorial's baseline; rounds to a digit)."""

    def __init__(self, num_classes: int = 10, in_shape: InShape = (1, 28, 28)):
        super().__init__()
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(_flat_size(in_shape), 1)

    def forward(self, images):  # [N, 1, 28, 28] -> [N, 1]
        return self.fc(self.flatten(images))


@register("softmax")
class SoftmaxRegression(nn.Layer):
    """784 -> 10 multinomial logistic regression: the simplest honest classifier."""

    def __init__(self, num_classes: int = 10, in_shape: InShape = (1, 28, 28)):
        super().__init__()
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(_flat_size(in_shape), num_classes)

    def forward(self, images):  # [N, 1, 28, 28] -> [N, C]
        return self.fc(self.flatten(images))


class MLP(nn.Layer):
    """Fully connected layers with one activation and optional dropout after each hidden layer."""

    def __init__(
        self,
        num_classes: int = 10,
        in_shape: InShape = (1, 28, 28),
        hidden: tuple[int, ...] = (200,),
        activation: str = "sigmoid",
        dropout: float = 0.0,
    ):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise UserError(f"unknown activation {activation!r}; choose one of: {', '.join(ACTIVATIONS)}")
        layers: list[nn.Layer] = [nn.Flatten()]
        width = _flat_size(in_shape)
        for size in hidden:
            layers += [nn.Linear(width, size), ACTIVATIONS[activation]()]
            if dropout:
                layers.append(nn.Dropout(dropout))
            width = size
        layers.append(nn.Linear(width, num_classes))
        self.layers = nn.Sequential(*layers)

    def forward(self, images):  # [N, 1, 28, 28] -> [N, C]
        return self.layers(images)


@register("mlp-sigmoid")
class SigmoidMLP(MLP):
    """784-200-10 sigmoid MLP (the pure-Python article; hidden sizes and activation configurable)."""

    def __init__(self, num_classes=10, in_shape=(1, 28, 28), hidden=(200,), activation="sigmoid", dropout=0.0):
        super().__init__(num_classes, in_shape, tuple(hidden), activation, dropout)


@register("mlp")
class DeepMLP(MLP):
    """784-500-500-500-10 ReLU MLP with dropout 0.2 (the Keras article)."""

    def __init__(self, num_classes=10, in_shape=(1, 28, 28), hidden=(500, 500, 500), activation="relu", dropout=0.2):
        super().__init__(num_classes, in_shape, tuple(hidden), activation, dropout)


@register("lenet5")
class LeNet5(nn.Layer):
    """LeCun's LeNet-5: 5x5 convolutions, tanh, average-pool subsampling, 120-84 dense head."""

    def __init__(self, num_classes: int = 10, in_shape: InShape = (1, 28, 28)):
        super().__init__()
        channels, height, width = in_shape
        # LeNet-5 read 32x32 pictures; padding 2 gives a 28x28 MNIST digit the same margins.
        self.features = nn.Sequential(
            nn.Conv2D(channels, 6, 5, padding=2),  # [N, 6, 28, 28]
            nn.Tanh(),
            nn.AvgPool2D(2),  # [N, 6, 14, 14]
            nn.Conv2D(6, 16, 5),  # [N, 16, 10, 10]
            nn.Tanh(),
            nn.AvgPool2D(2),  # [N, 16, 5, 5]
            nn.Flatten(),
        )
        flat = 16 * ((height // 2 - 4) // 2) * ((width // 2 - 4) // 2)
        self.classifier = nn.Sequential(
            nn.Linear(flat, 120), nn.Tanh(), nn.Linear(120, 84), nn.Tanh(), nn.Linear(84, num_classes)
        )

    def forward(self, images):  # [N, 1, 28, 28] -> [N, C]
        return self.classifier(self.features(images))


def _conv_block(in_channels: int, out_channels: int) -> list[nn.Layer]:
    """3x3 convolution (same size) + batch norm + ReLU; the conv has no bias because BN adds one."""
    return [
        nn.Conv2D(in_channels, out_channels, 3, padding=1, bias_attr=False),
        nn.BatchNorm2D(out_channels),
        nn.ReLU(),
    ]


@register("cnn")
class CNN(nn.Layer):
    """Our best: two VGG-style stages (3x3 conv + BN + ReLU, max-pool), dropout, a small dense head.

    ``width`` channels in the first stage, twice that in the second: 24 is the shipped models/cnn
    (16 trains about 1.5x faster; with ``--augment affine`` it read clean digits as well, but with
    ``distort`` it lost 0.1-0.3 points of clean accuracy that 24 won back: docs/inside.md).
    """

    def __init__(self, num_classes: int = 10, in_shape: InShape = (1, 28, 28), width: int = 24, dropout: float = 0.3):
        super().__init__()
        channels, height, image_width = in_shape
        self.features = nn.Sequential(
            *_conv_block(channels, width),  # [N, w, 28, 28]
            *_conv_block(width, width),
            nn.MaxPool2D(2),  # [N, w, 14, 14]
            *_conv_block(width, 2 * width),
            *_conv_block(2 * width, 2 * width),
            nn.MaxPool2D(2),  # [N, 2w, 7, 7]
            nn.Flatten(),
        )
        flat = 2 * width * (height // 4) * (image_width // 4)
        self.classifier = nn.Sequential(
            nn.Dropout(dropout), nn.Linear(flat, 128), nn.ReLU(), nn.Dropout(dropout), nn.Linear(128, num_classes)
        )

    def forward(self, images):  # [N, 1, 28, 28] -> [N, C]
        return self.classifier(self.features(images))


@register("cnn-fast")
class FastCNN(nn.Layer):
    """The speed-race CNN (train.py --recipe fast): two stride-2 convolutions instead of pooling, a small dense head.

    Built for 99% in under a minute on two CPU cores: a 5x5 stride-2 convolution halves the picture at
    once, a 3x3 stride-2 one halves it again, and no max-pool or full-size feature map is ever
    computed: about 1.5 M multiply-adds a picture (0.16 M, 0.90 M, then 0.40 M in the dense head), a seventh of
    ``cnn``'s 10.6 M (bench/time_to_99.py).
    """

    def __init__(self, num_classes: int = 10, in_shape: InShape = (1, 28, 28), width: int = 32, hidden: int = 128):
        super().__init__()
        channels, height, image_width = in_shape
        self.features = nn.Sequential(
            nn.Conv2D(channels, width, 5, stride=2, padding=2, bias_attr=False),  # [N, w, 14, 14]
            nn.BatchNorm2D(width),
            nn.ReLU(),
            nn.Conv2D(width, 2 * width, 3, stride=2, padding=1, bias_attr=False),  # [N, 2w, 7, 7]
            nn.BatchNorm2D(2 * width),
            nn.ReLU(),
            nn.Flatten(),
        )
        flat = 2 * width * ((height + 3) // 4) * ((image_width + 3) // 4)
        self.classifier = nn.Sequential(nn.Linear(flat, hidden), nn.ReLU(), nn.Linear(hidden, num_classes))

    def forward(self, images):  # [N, 1, 28, 28] -> [N, C]
        return self.classifier(self.features(images))


def leaves_called(model: nn.Layer, in_shape: InShape = (1, 28, 28)) -> list[tuple[nn.Layer, list[int]]]:
    """(leaf layer, its output shape [1, ...]) in the order the forward pass calls them, found by
    running it once on a blank image in eval mode. ``layer_rows`` tabulates these; the NumPy export
    (``handwriting.export.program_of``) turns them into steps."""
    called: list[tuple[nn.Layer, list[int]]] = []
    hooks = [
        layer.register_forward_post_hook(lambda layer, inputs, output: called.append((layer, list(output.shape))))
        for layer in model.sublayers()
        if not layer.sublayers()  # leaves only
    ]
    was_training = model.training
    model.eval()
    try:
        with paddle.no_grad():
            model(paddle.zeros([1, *in_shape]))
    finally:
        model.train(was_training)
        for hook in hooks:
            hook.remove()
    return called


def layer_rows(model: nn.Layer, in_shape: InShape = (1, 28, 28)) -> list[tuple[str, list[int], int]]:
    """(layer type, output shape [1, ...] for one image, parameter count) of each leaf layer, in
    the order the forward pass runs them."""
    return [
        (type(layer).__name__, shape, sum(int(p.size) for p in layer.parameters(include_sublayers=False)))
        for layer, shape in leaves_called(model, in_shape)
    ]


def summary(model: nn.Layer, in_shape: InShape = (1, 28, 28)) -> str:
    """A Keras-style table of layers, output shapes and parameter counts, as text."""
    lines = [f"{'layer':<14}{'output shape':<22}{'parameters':>12}", "-" * 48]
    lines += [f"{name:<14}{str(shape):<22}{count:>12,}" for name, shape, count in layer_rows(model, in_shape)]
    lines += ["-" * 48, f"{'total':<36}{count_parameters(model):>12,}"]
    return "\n".join(lines)


def model_for(what: str) -> tuple[nn.Layer, InShape, str]:
    """A registered model's name (built for MNIST) or a checkpoint (.pdparams or its .json card,
    loaded and checked as ``infer.py`` loads it) -> (model, input shape, title)."""
    from pathlib import Path

    if what in MODELS:
        return build_model(what), (1, 28, 28), f"{what} (for MNIST: 10 classes, 1x28x28)"
    if Path(what).suffix not in (".pdparams", ".json"):
        raise UserError(f"{what!r} is neither a model ({', '.join(MODELS)}) nor a checkpoint (.pdparams)")
    from handwriting.checkpoint import load_model

    model, card = load_model(what)
    in_shape = tuple(card["model"]["in_shape"])
    title = (
        f"{Path(what).name}: {card['model']['name']}, {len(card['classes'])} classes, {'x'.join(map(str, in_shape))}"
    )
    return model, in_shape, title


def main(argv: list[str] | None = None) -> int:
    """``python -m handwriting.models draw|summary MODEL``."""
    import argparse

    from handwriting.errors import run_at_the_edge
    from handwriting.runtime import quiet_paddle_import_warnings

    quiet_paddle_import_warnings()
    parser = argparse.ArgumentParser(
        prog="python -m handwriting.models",
        description="Show a model's layers: as text (summary) or as a diagram (draw), as Keras' plot_model does.",
    )
    parser.add_argument("command", choices=("draw", "summary"), help="draw: a PNG diagram; summary: the text table")
    parser.add_argument("model", help=f"a model name ({', '.join(MODELS)}) or a checkpoint (.pdparams with its .json)")
    parser.add_argument("--out", metavar="PNG", help="draw: where the diagram goes (default: runs/<model>.model.png)")
    args = parser.parse_args(argv)

    def work() -> None:
        from pathlib import Path

        model, in_shape, title = model_for(args.model)
        print(title)
        print(summary(model, in_shape))
        if args.command == "draw":
            from handwriting.reports import drawn_into, plot_model

            out = Path(args.out) if args.out else Path("runs") / f"{Path(args.model).stem}.model.png"
            rows, total = layer_rows(model, in_shape), count_parameters(model)
            drawn_into(out, lambda path: plot_model(rows, [1, *in_shape], total, path, title))
            print(f"wrote {out}")

    return run_at_the_edge(work, interrupted="interrupted")


if __name__ == "__main__":
    import sys

    sys.exit(main())
