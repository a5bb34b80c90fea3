"""handwriting.scratch: every gradient checked by central differences (float64) and against Paddle.

Tolerances: central differences with h = 1e-6 in float64 agree with the analytic gradient to
about 1e-8 relative; we ask for rtol 1e-6. Against Paddle (float64 too) the same sums in a
different order agree to ~1e-12; we ask for rtol 1e-9, atol 1e-12.
"""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from handwriting.scratch import (
    SGD,
    Adam,
    Dropout,
    Flatten,
    Linear,
    Momentum,
    ReLU,
    Sequential,
    Sigmoid,
    SoftmaxCrossEntropy,
    SquaredError,
    Tanh,
    mlp,
)

F64 = np.float64


def numeric_gradient(f, x: np.ndarray, h: float = 1e-6) -> np.ndarray:
    """d f() / d x by central differences, changing ``x`` in place one entry at a time."""
    gradient = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        kept = x[index]
        x[index] = kept + h
        up = f()
        x[index] = kept - h
        down = f()
        x[index] = kept
        gradient[index] = (up - down) / (2 * h)
    return gradient


def check_layer(layer, x: np.ndarray, rng) -> None:
    """Loss = sum(y * r) for a fixed random r, so dL/dy = r; compare dL/dx and dL/dparams."""
    r = rng.standard_normal(layer.forward(x).shape)

    def loss():
        return float((layer.forward(x) * r).sum())

    layer.forward(x)
    dx = layer.backward(r)
    np.testing.assert_allclose(dx, numeric_gradient(loss, x), rtol=1e-6, atol=1e-9)
    layer.forward(x)
    layer.backward(r)
    analytic = {name: g.copy() for name, g in layer.grads.items()}
    for name, parameter in layer.params.items():
        np.testing.assert_allclose(analytic[name], numeric_gradient(loss, parameter), rtol=1e-6, atol=1e-9)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.mark.parametrize(
    "make",
    [
        lambda rng: Linear(5, 3, rng=rng, dtype=F64),
        lambda rng: Linear(5, 3, bias=False, init="small", rng=rng, dtype=F64),
        lambda rng: Sigmoid(),
        lambda rng: Tanh(),
        lambda rng: ReLU(),
        lambda rng: Flatten(),
    ],
    ids=["linear", "linear-no-bias-small-init", "sigmoid", "tanh", "relu", "flatten"],
)
def test_layer_gradients_match_central_differences(make, rng):
    layer = make(rng)
    x = rng.standard_normal((4, 5))
    if isinstance(layer, ReLU):
        x += np.sign(x) * 0.1  # keep clear of the kink at 0, where the derivative jumps
    if isinstance(layer, Flatten):
        x = rng.standard_normal((4, 1, 2, 3))
    check_layer(layer, x, rng)


def test_dropout_passes_gradient_through_its_mask(rng):
    layer = Dropout(0.4, rng=np.random.default_rng(1))
    x = rng.standard_normal((200, 50)) + 3.0  # never zero, so the mask shows in y / x
    y = layer.forward(x)
    scale = y / x
    assert set(np.round(np.unique(scale), 9)) == {0.0, round(1 / 0.6, 9)}
    assert 0.35 < (scale == 0).mean() < 0.45
    g = rng.standard_normal(x.shape)
    np.testing.assert_allclose(layer.backward(g), g * scale, rtol=1e-12)
    layer.training = False
    np.testing.assert_array_equal(layer.forward(x), x)


@pytest.mark.parametrize("loss", [SoftmaxCrossEntropy(), SquaredError()], ids=["cross-entropy", "squared-error"])
def test_loss_gradients_match_central_differences(loss, rng):
    outputs = rng.uniform(0.05, 0.95, (6, 4))  # sigmoid-like outputs suit both losses
    labels = rng.integers(0, 4, 6)
    loss.forward(outputs, labels)
    analytic = loss.backward()
    np.testing.assert_allclose(analytic, numeric_gradient(lambda: loss.forward(outputs, labels), outputs), rtol=1e-6)


def test_squared_error_targets_are_the_articles():
    t = SquaredError().targets(np.array([2, 0]), 3)
    np.testing.assert_allclose(t, [[0.01, 0.01, 0.99], [0.99, 0.01, 0.01]])


@pytest.mark.parametrize("loss_name", ["cross-entropy", "squared-error"])
def test_a_whole_two_layer_net_gradient(loss_name, rng):
    squared = loss_name == "squared-error"
    net = mlp(hidden=(7,), in_features=12, num_classes=4, sigmoid_output=squared, bias=not squared, dtype=F64)
    loss = SquaredError() if squared else SoftmaxCrossEntropy()
    x, labels = rng.standard_normal((5, 1, 3, 4)), rng.integers(0, 4, 5)

    def value():
        return loss.forward(net.forward(x), labels)

    value()
    net.backward(loss.backward())
    analytic = {name: g.copy() for name, g in net.named_gradients().items()}
    assert (
        set(analytic)
        == set(net.named_parameters())
        == ({"1.weight", "3.weight"} if squared else {"1.weight", "1.bias", "3.weight", "3.bias"})
    )
    for name, parameter in net.named_parameters().items():
        np.testing.assert_allclose(analytic[name], numeric_gradient(value, parameter), rtol=1e-6, atol=1e-10)


def test_training_backward_skips_only_the_input_gradient(rng):
    net = mlp(hidden=(7,), in_features=12, num_classes=4, dtype=F64)
    loss = SoftmaxCrossEntropy()
    x, labels = rng.standard_normal((5, 12)), rng.integers(0, 4, 5)
    loss.forward(net.forward(x), labels)
    assert net.backward(loss.backward()).shape == x.shape
    full = {name: g.copy() for name, g in net.named_gradients().items()}
    assert net.backward(loss.backward(), input_gradient=False) is None  # as fit trains
    assert set(net.named_gradients()) == set(full) == {"1.weight", "1.bias", "3.weight", "3.bias"}
    for name, gradient in net.named_gradients().items():
        np.testing.assert_array_equal(gradient, full[name])  # the same sums: equal to the bit


# --------------------------------------------------------------------------- against Paddle


@pytest.fixture(scope="module")
def paddle():
    import paddle

    paddle.set_device("cpu")
    return paddle


def paddle_grads(paddle, build, x: np.ndarray, upstream: np.ndarray):
    """Run ``build(x_tensor)`` in Paddle (float64) and backpropagate ``upstream``."""
    x_tensor = paddle.to_tensor(x, stop_gradient=False)
    y = build(x_tensor)
    (y * paddle.to_tensor(upstream)).sum().backward()
    return y.numpy(), x_tensor.grad.numpy()


@pytest.mark.parametrize("name", ["linear", "sigmoid", "tanh", "relu"])
def test_layers_agree_with_paddle_autograd(paddle, name, rng):
    x = rng.standard_normal((6, 5))
    upstream = rng.standard_normal((6, 3 if name == "linear" else 5))
    if name == "linear":
        ours = Linear(5, 3, rng=rng, dtype=F64)
        ours.params["bias"] = rng.standard_normal(3)
        theirs = paddle.nn.Linear(5, 3)
        theirs.to(dtype="float64")
        theirs.weight.set_value(ours.params["weight"])  # both [in, out]: no transpose
        theirs.bias.set_value(ours.params["bias"])
    else:
        ours = {"sigmoid": Sigmoid, "tanh": Tanh, "relu": ReLU}[name]()
        theirs = {"sigmoid": paddle.nn.Sigmoid, "tanh": paddle.nn.Tanh, "relu": paddle.nn.ReLU}[name]()
    y_paddle, dx_paddle = paddle_grads(paddle, theirs, x, upstream)
    y_ours = ours.forward(x)
    np.testing.assert_allclose(y_ours, y_paddle, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(ours.backward(upstream), dx_paddle, rtol=1e-9, atol=1e-12)
    if name == "linear":
        np.testing.assert_allclose(ours.grads["weight"], theirs.weight.grad.numpy(), rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(ours.grads["bias"], theirs.bias.grad.numpy(), rtol=1e-9, atol=1e-12)


def test_losses_agree_with_paddle(paddle, rng):
    logits = rng.standard_normal((8, 10))
    labels = rng.integers(0, 10, 8)
    tensor = paddle.to_tensor(logits, stop_gradient=False)
    value = paddle.nn.functional.cross_entropy(tensor, paddle.to_tensor(labels))
    value.backward()
    ours = SoftmaxCrossEntropy()
    assert ours.forward(logits, labels) == pytest.approx(float(value), rel=1e-12)
    np.testing.assert_allclose(ours.backward(), tensor.grad.numpy(), rtol=1e-9, atol=1e-12)

    outputs = rng.uniform(0.05, 0.95, (8, 10))
    squared = SquaredError()
    tensor = paddle.to_tensor(outputs, stop_gradient=False)
    targets = paddle.to_tensor(squared.targets(labels, 10, np.float64))
    value = 0.5 * ((tensor - targets) ** 2).sum(axis=1).mean()
    value.backward()
    assert squared.forward(outputs, labels) == pytest.approx(float(value), rel=1e-12)
    np.testing.assert_allclose(squared.backward(), tensor.grad.numpy(), rtol=1e-9, atol=1e-12)


def test_a_whole_net_agrees_with_paddles_mlp(paddle, rng):
    """The scratch 784-200-10 and ``handwriting.models`` MLP with the same weights: same logits,
    same loss, same gradients for every parameter, under the same names."""
    from handwriting.models import build_model

    ours = mlp(hidden=(16,), activation="sigmoid", in_features=784, dtype=F64)
    theirs = build_model("mlp-sigmoid", hidden=(16,))
    theirs.to(dtype="float64")
    assert set(ours.state_dict()) == set(theirs.state_dict())
    theirs.set_state_dict({name: paddle.to_tensor(value) for name, value in ours.state_dict().items()})
    images, labels = rng.uniform(-1, 1, (5, 1, 28, 28)), rng.integers(0, 10, 5)

    loss = SoftmaxCrossEntropy()
    value = loss.forward(ours.forward(images), labels)
    ours.backward(loss.backward())
    logits = theirs(paddle.to_tensor(images))
    paddle_value = paddle.nn.functional.cross_entropy(logits, paddle.to_tensor(labels))
    paddle_value.backward()
    np.testing.assert_allclose(ours.forward(images), logits.numpy(), rtol=1e-9, atol=1e-12)
    assert value == pytest.approx(float(paddle_value), rel=1e-12)
    paddle_grads_by_name = {name: p.grad.numpy() for name, p in theirs.named_parameters()}
    for name, g in ours.named_gradients().items():
        np.testing.assert_allclose(g, paddle_grads_by_name["layers." + name], rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("kind", ["sgd", "momentum", "adam"])
def test_optimisers_take_paddles_steps(paddle, kind, rng):
    ours = Sequential(Linear(4, 3, rng=rng, dtype=F64))
    theirs = paddle.nn.Linear(4, 3)
    theirs.to(dtype="float64")
    theirs.weight.set_value(ours.layers[0].params["weight"])
    theirs.bias.set_value(ours.layers[0].params["bias"])
    ours_opt = {"sgd": SGD(ours, 0.1), "momentum": Momentum(ours, 0.1, 0.9), "adam": Adam(ours, 0.01)}[kind]
    theirs_opt = {
        "sgd": lambda: paddle.optimizer.SGD(0.1, parameters=theirs.parameters()),
        "momentum": lambda: paddle.optimizer.Momentum(0.1, momentum=0.9, parameters=theirs.parameters()),
        "adam": lambda: paddle.optimizer.Adam(0.01, epsilon=1e-8, parameters=theirs.parameters()),
    }[kind]()
    for _ in range(3):
        x, upstream = rng.standard_normal((5, 4)), rng.standard_normal((5, 3))
        ours.forward(x)
        ours.backward(upstream)
        ours_opt.step()
        (theirs(paddle.to_tensor(x)) * paddle.to_tensor(upstream)).sum().backward()
        theirs_opt.step()
        theirs_opt.clear_grad()
    np.testing.assert_allclose(ours.layers[0].params["weight"], theirs.weight.numpy(), rtol=1e-7, atol=1e-10)
    np.testing.assert_allclose(ours.layers[0].params["bias"], theirs.bias.numpy(), rtol=1e-7, atol=1e-10)


def test_the_package_imports_numpy_only():
    code = (
        "import sys, handwriting.scratch, handwriting.scratch.train; "  # the trainer: rotation, inputs
        "print(sorted(m for m in ('paddle', 'cv2', 'PIL', 'matplotlib', 'scipy') if m in sys.modules))"
    )
    root = Path(__file__).resolve().parent.parent  # where ``handwriting`` is, from wherever pytest runs
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root).stdout
    assert out.strip() == "[]"
