"""Ask a trained network backwards what each class looks like.

    python -m handwriting.backquery models/mlp-sigmoid.pdparams     # -> runs/mlp-sigmoid.backquery.png
    python -m handwriting.backquery models/cnn.pdparams --out cnn_classes.png
    python -m handwriting.backquery models/scratch.npz --method ascent

Two ways, one picture per class, each captioned with how the same model reads it:

``inverse``  Make Your Own Neural Network's back-query, for fully connected nets whose hidden layers
             are sigmoids (``mlp-sigmoid``, the NumPy nets): start from the output the class should
             give (0.99 for it, 0.01 for the others), undo the output's squashing (the logit for a
             sigmoid output, the centred log for a softmax), multiply by the transposed weights, rescale to
             0.01-0.99 and undo the sigmoid, layer by layer, down to the pixels.
``ascent``   for any model, the CNN included: start from a grey picture and change its pixels by
             gradient ascent on the class's log-probability, with what keeps the picture natural
             rather than adversarial: a small random shift (jitter) every step, a light blur every
             few steps and a penalty on bright pixels (L2).

``auto`` (the default) takes ``inverse`` where the network allows it, else ``ascent``.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from handwriting.errors import UserError, run_at_the_edge
from handwriting.preprocess.pixels import MNIST_SIZE
from handwriting.runtime import quiet_paddle_import_warnings

METHODS = ("auto", "inverse", "ascent")
TARGET_ON, TARGET_OFF = 0.99, 0.01  # the article's targets: a sigmoid never reaches 0 or 1

# Gradient ascent's settings: enough steps for the pictures to settle on a 2-core CPU in seconds.
ASCENT_STEPS = 200
ASCENT_RATE = 0.05  # each step moves the picture by this much (of the [-1, 1] range) on average
ASCENT_L2 = 0.005  # the penalty on ink, so only the pixels that matter light up
ASCENT_BLUR_EVERY = 4  # steps between blurs
ASCENT_BLUR_SIGMA = 0.5  # pixels
ASCENT_JITTER = 1  # pixels each way


@dataclass
class Queried:
    """The pictures a back-query made: uint8 [C, 28, 28] (white on black), one per class, and how
    the model reads each one (predicted class index [C] and its probability [C])."""

    method: str
    pictures: np.ndarray
    predicted: np.ndarray
    confidence: np.ndarray


# ----------------------------------------------------------------------------- the two methods


def invertible(net) -> bool:
    """Whether ``inverse`` can run on a NumPy ``Sequential``: every activation is a sigmoid (a ReLU
    has no inverse; dropout does nothing once trained)."""
    from handwriting.scratch.layers import Dropout, Flatten, Linear, Sigmoid

    layers = net.layers
    return all(isinstance(layer, (Flatten, Linear, Sigmoid, Dropout)) for layer in layers) and any(
        isinstance(layer, Sigmoid) for layer in layers
    )


def _rescale(values: np.ndarray, low: float = TARGET_OFF, high: float = TARGET_ON) -> np.ndarray:
    """Each row of ``values`` [C, K] stretched to [low, high] (a flat row becomes the middle)."""
    smallest = values.min(axis=1, keepdims=True)
    span = values.max(axis=1, keepdims=True) - smallest
    return low + (high - low) * np.divide(values - smallest, span, out=np.full_like(values, 0.5), where=span > 0)


def _logit(p: np.ndarray) -> np.ndarray:
    return np.log(p) - np.log1p(-p)


def inverse_query(net, num_classes: int, sigmoid_output: bool) -> np.ndarray:
    """The article's back-query through a NumPy ``Sequential`` of Linear and Sigmoid layers ->
    the input each class asks for, [C, in_features] in [0.01, 0.99]."""
    from handwriting.scratch.layers import Linear, Sigmoid

    targets = np.full((num_classes, num_classes), TARGET_OFF) + np.eye(num_classes) * (TARGET_ON - TARGET_OFF)
    layers = list(net.layers)
    if sigmoid_output and isinstance(layers[-1], Sigmoid):
        signal = _logit(targets)  # what went into the output sigmoid
        layers = layers[:-1]
    else:
        # Softmax undone: log p is the logits up to a constant per row, which softmax ignores; the
        # constant that makes each row sum to zero is the smallest preimage (no shared "every class" part).
        signal = np.log(targets)
        signal -= signal.mean(axis=1, keepdims=True)
    for layer in reversed(layers):
        if isinstance(layer, Linear):
            signal = (
                signal @ layer.params["weight"].astype(np.float64).T
            )  # [C, out] -> [C, in], as the article: no bias
        elif isinstance(layer, Sigmoid):
            signal = _logit(_rescale(signal))  # what went into this sigmoid
    return _rescale(signal)


class _Scorer:
    """A model as ``ascent`` needs it: log-probabilities [N, C] of pictures x [N, 1, H, W] in [-1, 1]
    and the gradient of the chosen classes' log-probabilities with respect to x."""

    def __init__(self, backend):
        from handwriting.scratch.layers import Sequential

        self.backend = backend
        self.net = getattr(backend, "net", None)  # a NumPy network, else a Paddle model
        if self.net is not None:
            # The NumPy net's own input scale (for 0 and 255), as a line through x = -1 and x = +1.
            low, high = backend.scale(np.array([0, 255], dtype=np.uint8))
            self.low, self.span = float(low), float(high - low)
            if backend.sigmoid_output:  # a squared-error net: what went into its last sigmoid are its logits
                self.net = Sequential(*self.net.layers[:-1])

    def gradient(self, x: np.ndarray, classes: np.ndarray) -> np.ndarray:
        """d sum_i log p(classes[i] | x_i) / dx, [N, 1, H, W]."""
        if self.net is None:
            import paddle

            tensor = paddle.to_tensor(x.astype(np.float32), stop_gradient=False)
            log_p = paddle.nn.functional.log_softmax(self.backend.model(tensor), axis=1)
            chosen = paddle.take_along_axis(log_p, paddle.to_tensor(classes[:, None].astype(np.int64)), axis=1)
            (grad,) = paddle.grad(chosen.sum(), tensor)  # the pictures' gradient only: no weight gradients pile up
            return grad.numpy()
        inputs = (self.low + self.span * (x.reshape(len(x), -1) + 1) / 2).astype(np.float32)
        logits = self.net.forward(inputs).astype(np.float64)
        probabilities = np.exp(logits - logits.max(axis=1, keepdims=True))
        probabilities /= probabilities.sum(axis=1, keepdims=True)
        # d log softmax_k / d logits = onehot_k - p
        upstream = np.eye(logits.shape[1])[classes] - probabilities
        grad_inputs = self.net.backward(upstream.astype(np.float32))
        return (grad_inputs * self.span / 2).reshape(x.shape)


def _blur(x: np.ndarray, sigma: float) -> np.ndarray:
    """Each picture of x [N, 1, H, W] blurred (Gaussian, ``sigma`` pixels)."""
    import cv2

    return np.stack([cv2.GaussianBlur(picture[0], (0, 0), sigmaX=sigma)[None] for picture in x])


def gradient_ascent(backend, num_classes: int, shape: tuple[int, int], steps: int = ASCENT_STEPS, seed: int = 0):
    """Pictures [C, H, W] in [-1, 1] that ``backend`` reads as each class, grown from grey."""
    rng = np.random.default_rng(seed)
    scorer = _Scorer(backend)
    classes = np.arange(num_classes)
    x = np.zeros((num_classes, 1, *shape))  # grey: halfway between background and ink
    for step in range(steps):
        dy, dx = rng.integers(-ASCENT_JITTER, ASCENT_JITTER + 1, 2)
        shifted = np.roll(x, (dy, dx), axis=(2, 3))
        grad = np.roll(scorer.gradient(shifted, classes), (-dy, -dx), axis=(2, 3))
        grad -= ASCENT_L2 * (x + 1)  # pull towards the background (-1): ink must earn its place
        scale = np.abs(grad).mean(axis=(1, 2, 3), keepdims=True) + 1e-12
        x = np.clip(x + ASCENT_RATE * grad / scale, -1.0, 1.0)
        if step % ASCENT_BLUR_EVERY == ASCENT_BLUR_EVERY - 1:
            x = _blur(x.astype(np.float32), ASCENT_BLUR_SIGMA).astype(np.float64)
    return x[:, 0]


# ----------------------------------------------------------------------------- a model in, pictures out


def numpy_twin(path: Path):
    """A NumPy ``Sequential`` equal to the model at ``path`` and whether it ends with a sigmoid, or
    (None, False) for a model with no NumPy twin (the CNNs). A ReLU MLP has one, which
    ``invertible`` then refuses."""
    if path.suffix == ".npz":
        from handwriting.scratch.files import load

        net, card = load(path)
        return net, bool(card["network"].get("sigmoid_output"))
    from handwriting.bridge import MLP_MODELS
    from handwriting.checkpoint import card_path, read_card

    model = read_card(card_path(path)).get("model")
    if not isinstance(model, dict) or model.get("name") not in MLP_MODELS:
        return None, False
    from handwriting.bridge import paddle_to_scratch

    net, _ = paddle_to_scratch(path)  # loads the weights a second time: a fraction of a second for an MLP
    return net, False


def back_query(path: str | Path, method: str = "auto", steps: int = ASCENT_STEPS, seed: int = 0):
    """Back-query the model at ``path`` -> (``Queried``, its classes)."""
    from handwriting.robustness import open_model

    if method not in METHODS:
        raise UserError(f"unknown --method {method!r}; choose one of: {', '.join(METHODS)}")
    path = Path(path)
    backend = open_model(path)
    if backend.name != "paddle" and getattr(backend, "net", None) is None:
        raise UserError(
            f"{path}: back-query needs the model's gradients: give its train.py checkpoint (.pdparams), not an export"
        )
    classes = list(backend.classes)
    if getattr(backend, "task", "classify") != "classify":
        raise UserError(f"{path}: a regression model has no class probabilities to ask backwards")
    size = MNIST_SIZE
    net, sigmoid_output = numpy_twin(path) if method in ("auto", "inverse") else (None, False)
    if method == "inverse" and (net is None or not invertible(net)):
        raise UserError(f"{path}: --method inverse needs a fully connected sigmoid network; use --method ascent")
    if net is not None and invertible(net):
        method = "inverse"
        pixels01 = inverse_query(net, len(classes), sigmoid_output).reshape(len(classes), size, size)
        pictures = np.rint((pixels01 - TARGET_OFF) / (TARGET_ON - TARGET_OFF) * 255)
    else:
        method = "ascent"
        pictures = np.rint((gradient_ascent(backend, len(classes), (size, size), steps, seed) + 1) * 127.5)
    pictures = np.clip(pictures, 0, 255).astype(np.uint8)
    probabilities = backend.probabilities(pictures)
    predicted = probabilities.argmax(axis=1)
    return Queried(method, pictures, predicted, probabilities[np.arange(len(classes)), predicted]), classes


def check_model_file(path: str) -> None:
    """One line for a model path that is a folder or not there (the loaders say what is wrong inside one)."""
    if Path(path).is_dir():
        raise UserError(f"{path}: is a folder; give a model file (.pdparams or .npz)")
    if not Path(path).is_file():
        raise UserError(f"{path}: no such model file")


def main(argv: list[str] | None = None) -> int:
    quiet_paddle_import_warnings()
    parser = argparse.ArgumentParser(
        prog="python -m handwriting.backquery",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("model", help="a checkpoint (.pdparams, its .json beside it) or a NumPy network (.npz)")
    parser.add_argument("--method", default="auto", choices=METHODS, help="how to ask (default: %(default)s)")
    parser.add_argument("--steps", type=int, default=ASCENT_STEPS, help="ascent's steps (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="ascent's jitter seed (default: %(default)s)")
    parser.add_argument("--out", metavar="PNG", help="where the picture goes (default: runs/<model>.backquery.png)")
    args = parser.parse_args(argv)

    def work() -> None:
        from handwriting.checkpoint import stem
        from handwriting.reports import drawn_into, plot_gallery
        from handwriting.runtime import use_all_cores
        from handwriting.scratch.files import network_stem

        check_model_file(args.model)
        if args.steps < 1 or args.seed < 0:
            raise UserError(f"--steps must be at least 1 and --seed at least 0, got {args.steps} and {args.seed}")
        use_all_cores()
        queried, classes = back_query(args.model, args.method, args.steps, args.seed)
        name = network_stem(args.model) if Path(args.model).suffix == ".npz" else stem(args.model).name
        out = Path(args.out) if args.out else Path("runs") / f"{name}.backquery.png"
        captions = [
            f"{label}\n→ {classes[p]} {c:.0%}" for label, p, c in zip(classes, queried.predicted, queried.confidence)
        ]
        right = int((queried.predicted == np.arange(len(classes))).sum())
        title = f"{name} asked backwards ({queried.method}): {right} of {len(classes)} read as asked"
        drawn_into(
            out, lambda path: plot_gallery(queried.pictures, captions, path, title, columns=min(10, len(classes)))
        )
        print(f"{title}\nwrote {out}")

    return run_at_the_edge(work, interrupted="interrupted")


if __name__ == "__main__":
    sys.exit(main())
