"""Handwritten character recognition on PaddlePaddle: data, models, training and inference."""

__version__ = "0.1.0"
