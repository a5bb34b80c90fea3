"""A neural network in NumPy alone — the equations under the framework, checked against Paddle.

    from handwriting.scratch import mlp, SoftmaxCrossEntropy, Adam
    net = mlp(hidden=(200,), activation="sigmoid")       # the articles' 784-200-10
    loss = SoftmaxCrossEntropy()
    optimizer = Adam(net, lr=0.001)
    value = loss.forward(net.forward(images), labels)    # images [N, 784] float32, labels [N]
    net.backward(loss.backward())                        # fills every layer's grads
    optimizer.step()

This package imports NumPy and nothing else (tests check), so it runs anywhere NumPy does.
"""

from handwriting.scratch.layers import Dropout, Flatten, Layer, Linear, ReLU, Sequential, Sigmoid, Tanh
from handwriting.scratch.losses import LOSSES, SoftmaxCrossEntropy, SquaredError
from handwriting.scratch.net import ACTIVATIONS, mlp
from handwriting.scratch.optim import OPTIMIZERS, SGD, Adam, Momentum

__all__ = [
    "ACTIVATIONS",
    "LOSSES",
    "OPTIMIZERS",
    "SGD",
    "Adam",
    "Dropout",
    "Flatten",
    "Layer",
    "Linear",
    "Momentum",
    "ReLU",
    "Sequential",
    "Sigmoid",
    "SoftmaxCrossEntropy",
    "SquaredError",
    "Tanh",
    "mlp",
]
