"""Handwritten character recognition on PaddlePaddle: data, models, training and inference."""

from handwriting.runtime import prepare_environment

__version__ = "0.1.0"

# Before anything imports Paddle (and with it MKL): see handwriting/runtime.py.
prepare_environment()
