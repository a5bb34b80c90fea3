"""Layers of a network written with NumPy alone, each with the backward pass beside its maths.

Every layer caches what its backward pass needs during ``forward`` and, in ``backward``, takes
the gradient of the loss with respect to its output and returns the gradient with respect to
its input, filling ``grads`` for its own parameters on the way. Names and shapes mirror
Paddle's: ``Linear.weight`` is [in, out] and ``Linear.bias`` [out], so weights move between
the two frameworks as they are.

Shapes: x [N, in] (a batch of N rows), y [N, out]; g = dLoss/dy, same shape as y.
"""

from __future__ import annotations

import numpy as np


class Layer:
    """A step of the network. Layers without parameters keep the empty dicts."""

    def __init__(self) -> None:
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self.training = True

    def forward(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def backward(self, g: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.forward(x)


class Linear(Layer):
    """y = x W + b, with W [in, out] and b [out] (Paddle's layout).

    Initialisations (``init``): "normal" draws W from N(0, in^-1/2), as Make Your Own Neural
    Network's text says; "article" from N(0, out^-1/2), as its published code (and the pure-Python
    article) does; "small" draws 0.01 * N(0, 1), as the NumPy EMNIST article. Biases start at 0.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        init: str = "normal",
        rng: np.random.Generator | None = None,
        dtype=np.float32,
    ):
        super().__init__()
        rng = rng if rng is not None else np.random.default_rng()
        if init == "normal":
            weight = rng.normal(0.0, in_features**-0.5, (in_features, out_features))
        elif init == "article":
            weight = rng.normal(0.0, out_features**-0.5, (in_features, out_features))
        elif init == "small":
            weight = 0.01 * rng.standard_normal((in_features, out_features))
        else:
            raise ValueError(f"unknown init {init!r}; choose 'normal', 'article' or 'small'")
        self.params["weight"] = weight.astype(dtype)
        if bias:
            self.params["bias"] = np.zeros(out_features, dtype=dtype)

    def forward(self, x):
        self.x = x  # [N, in], kept for the weight gradient
        y = x @ self.params["weight"]  # [N, out]
        if "bias" in self.params:
            y = y + self.params["bias"]
        return y

    def backward(self, g, input_gradient: bool = True):
        """Fill ``grads`` and return dL/dx; ``input_gradient=False`` skips dL/dx (returns None),
        for the first layer, where nothing before it needs that product."""
        # y_nj = sum_i x_ni W_ij + b_j  =>  dL/dW = x^T g,  dL/db = sum_n g,  dL/dx = g W^T
        self.grads["weight"] = self.x.T @ g  # [in, out]
        if "bias" in self.params:
            self.grads["bias"] = g.sum(axis=0)  # [out]
        if not input_gradient:
            return None
        return g @ self.params["weight"].T  # [N, in]


class Sigmoid(Layer):
    """y = 1 / (1 + e^-x);  dy/dx = y (1 - y)."""

    def forward(self, x):
        # The same function written with tanh: one transcendental call, and no overflow for
        # large negative x (where e^-x would overflow).
        self.y = 0.5 * (1.0 + np.tanh(0.5 * x))
        return self.y

    def backward(self, g):
        return g * self.y * (1 - self.y)


class ReLU(Layer):
    """y = max(x, 0);  dy/dx = 1 where x > 0, else 0."""

    def forward(self, x):
        self.positive = x > 0
        return np.where(self.positive, x, 0).astype(x.dtype, copy=False)

    def backward(self, g):
        return g * self.positive


class Tanh(Layer):
    """y = tanh(x);  dy/dx = 1 - y^2."""

    def forward(self, x):
        self.y = np.tanh(x)
        return self.y

    def backward(self, g):
        return g * (1 - self.y**2)


class Dropout(Layer):
    """While training, zero each value with probability ``p`` and scale the rest by 1/(1-p)
    (Paddle's "upscale_in_train": nothing to undo at test time); at test time, y = x."""

    def __init__(self, p: float = 0.5, rng: np.random.Generator | None = None):
        super().__init__()
        if not 0 <= p < 1:
            raise ValueError(f"dropout probability must be in [0, 1), got {p}")
        self.p = p
        self.rng = rng if rng is not None else np.random.default_rng()

    def forward(self, x):
        if not self.training or self.p == 0:
            self.scale = None
            return x
        self.scale = (self.rng.random(x.shape) >= self.p).astype(x.dtype) / (1 - self.p)
        return x * self.scale

    def backward(self, g):
        return g if self.scale is None else g * self.scale


class Flatten(Layer):
    """[N, ...] -> [N, everything else]; the backward pass restores the shape."""

    def forward(self, x):
        self.shape = x.shape
        return x.reshape(len(x), -1)

    def backward(self, g):
        return g.reshape(self.shape)


class Sequential(Layer):
    """Layers run in order; backward runs them in reverse. Parameters are named like Paddle's
    ``nn.Sequential``: ``"<index>.<name>"`` (``"1.weight"``), under ``prefix`` in ``state_dict``."""

    def __init__(self, *layers: Layer):
        super().__init__()
        self.layers = list(layers)

    def forward(self, x):
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def backward(self, g, input_gradient: bool = True):
        """Backpropagate ``g`` = dLoss/dOutput. Training needs no gradient for the pictures
        themselves: ``input_gradient=False`` stops once every parameter has its gradient, which
        saves the first layer's largest product ([N, hidden] x [hidden, 784])."""
        first = 0
        if not input_gradient:
            first = next((i for i, layer in enumerate(self.layers) if layer.params), len(self.layers))
        for index in range(len(self.layers) - 1, first - 1, -1):
            layer = self.layers[index]
            if index == first and not input_gradient and isinstance(layer, Linear):
                return layer.backward(g, input_gradient=False)  # None: the pictures need no gradient
            g = layer.backward(g)
        return g

    def train(self, training: bool = True) -> Sequential:
        for layer in self.layers:
            layer.training = training
        self.training = training
        return self

    def eval(self) -> Sequential:
        return self.train(False)

    def named_parameters(self) -> dict[str, np.ndarray]:
        return {f"{i}.{name}": value for i, layer in enumerate(self.layers) for name, value in layer.params.items()}

    def named_gradients(self) -> dict[str, np.ndarray]:
        return {f"{i}.{name}": value for i, layer in enumerate(self.layers) for name, value in layer.grads.items()}

    def state_dict(self, prefix: str = "layers.") -> dict[str, np.ndarray]:
        return {prefix + name: value for name, value in self.named_parameters().items()}

    def load_state_dict(self, state: dict[str, np.ndarray], prefix: str = "layers.") -> None:
        """Copy arrays into the parameters; names and shapes must match exactly."""
        own = self.named_parameters()
        wanted = {prefix + name for name in own}
        if set(state) != wanted:
            missing, unexpected = sorted(wanted - set(state)), sorted(set(state) - wanted)
            raise ValueError(f"state does not fit this network: missing {missing[:3]}, unexpected {unexpected[:3]}")
        for name, value in own.items():
            new = np.asarray(state[prefix + name])
            if new.shape != value.shape:
                raise ValueError(f"{prefix + name}: shape {list(new.shape)} does not fit {list(value.shape)}")
            value[...] = new
