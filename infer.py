"""Recognise handwriting in your own pictures (arrives with issue #4)."""

import sys

if __name__ == "__main__":
    print(
        "infer.py is not built yet: reading your own pictures (any format, dark ink on light paper, "
        "cropped and centred as MNIST was) arrives with issue #4. Today you can score the shipped "
        "model on MNIST: python -m handwriting.evaluate models/cnn.pdparams",
        file=sys.stderr,
    )
    sys.exit(2)
