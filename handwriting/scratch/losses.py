"""The two losses of the source articles, each with its gradient.

``forward`` returns the mean loss over the batch; ``backward`` returns its gradient with
respect to the network's output, [N, C].
"""

from __future__ import annotations

import numpy as np


class SoftmaxCrossEntropy:
    """Softmax of the logits z [N, C], then -log of the true class's probability, averaged.

    dL/dz = (softmax(z) - onehot(label)) / N: the softmax and the log cancel into that simple
    difference, which is why the two are computed together (and the network returns logits).
    """

    def forward(self, logits: np.ndarray, labels: np.ndarray) -> float:
        shifted = logits - logits.max(axis=1, keepdims=True)  # same softmax, no overflow
        log_probabilities = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        self.probabilities = np.exp(log_probabilities)
        self.labels = labels
        return float(-log_probabilities[np.arange(len(labels)), labels].mean())

    def backward(self) -> np.ndarray:
        g = self.probabilities.copy()
        g[np.arange(len(self.labels)), self.labels] -= 1
        return g / len(self.labels)


class SquaredError:
    """The Make-Your-Own-Neural-Network loss: sigmoid outputs y [N, C] against targets that are
    ``high`` (0.99) for the true class and ``low`` (0.01) elsewhere — a sigmoid never reaches
    0 or 1 — as 1/2 sum (y - t)^2 per example, averaged over the batch.

    dL/dy = (y - t) / N. With a batch of one and plain SGD this is exactly the articles' update
    ``W += lr * (t - y) * y (1 - y) h^T`` once the sigmoid's own derivative is applied.
    """

    def __init__(self, low: float = 0.01, high: float = 0.99):
        self.low, self.high = low, high

    def targets(self, labels: np.ndarray, classes: int, dtype=np.float32) -> np.ndarray:
        t = np.full((len(labels), classes), self.low, dtype=dtype)
        t[np.arange(len(labels)), labels] = self.high
        return t

    def forward(self, outputs: np.ndarray, labels: np.ndarray) -> float:
        self.outputs = outputs
        self.t = self.targets(labels, outputs.shape[1], outputs.dtype)
        return float(0.5 * ((outputs - self.t) ** 2).sum(axis=1).mean())

    def backward(self) -> np.ndarray:
        return (self.outputs - self.t) / len(self.outputs)


LOSSES = {"cross-entropy": SoftmaxCrossEntropy, "squared-error": SquaredError}
