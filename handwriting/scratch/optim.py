"""Optimisers over a network's named parameters and gradients, updated in place.

The update rules follow Paddle's (``paddle.optimizer.SGD``, ``Momentum``, ``Adam``), so the
same settings mean the same thing in both.
"""

from __future__ import annotations

import numpy as np


class SGD:
    """p <- p - lr * g"""

    def __init__(self, network, lr: float = 0.01):
        self.network, self.lr = network, lr

    def step(self) -> None:
        gradients = self.network.named_gradients()
        for name, parameter in self.network.named_parameters().items():
            parameter -= self._update(name, gradients[name].astype(parameter.dtype, copy=False))

    def _update(self, name: str, g: np.ndarray) -> np.ndarray:
        return self.lr * g


class Momentum(SGD):
    """v <- momentum * v + g;  p <- p - lr * v"""

    def __init__(self, network, lr: float = 0.01, momentum: float = 0.9):
        super().__init__(network, lr)
        self.momentum = momentum
        self.velocity: dict[str, np.ndarray] = {}

    def _update(self, name, g):
        v = self.velocity.get(name)
        v = g.copy() if v is None else self.momentum * v + g
        self.velocity[name] = v
        return self.lr * v


class Adam(SGD):
    """m <- b1 m + (1-b1) g;  v <- b2 v + (1-b2) g^2;  p <- p - lr * m^ / (sqrt(v^) + eps),
    with m^ and v^ corrected for starting at zero (divided by 1 - b^t)."""

    def __init__(self, network, lr: float = 0.001, beta1: float = 0.9, beta2: float = 0.999, epsilon: float = 1e-8):
        super().__init__(network, lr)
        self.beta1, self.beta2, self.epsilon = beta1, beta2, epsilon
        self.m: dict[str, np.ndarray] = {}
        self.v: dict[str, np.ndarray] = {}
        self.t = 0

    def step(self) -> None:
        self.t += 1
        super().step()

    def _update(self, name, g):
        if name not in self.m:
            self.m[name], self.v[name] = np.zeros_like(g), np.zeros_like(g)
        m, v = self.m[name], self.v[name]
        # In place, to spare temporaries on every step: m = b1 m + (1-b1) g, v = b2 v + (1-b2) g^2.
        m *= self.beta1
        m += (1 - self.beta1) * g
        v *= self.beta2
        v += (1 - self.beta2) * np.square(g)
        # lr * m^ / (sqrt(v^) + eps), with the two corrections folded into one factor (as Paddle).
        correction = np.sqrt(1 - self.beta2**self.t)
        step = np.sqrt(v)
        step += self.epsilon * correction
        np.divide(m, step, out=step)
        step *= self.lr * correction / (1 - self.beta1**self.t)
        return step


OPTIMIZERS = {"sgd": SGD, "momentum": Momentum, "adam": Adam}
