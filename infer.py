"""Recognise handwriting in your own pictures (arrives with issue #4)."""

import sys

if __name__ == "__main__":
    print(
        "infer.py is not built yet: it needs a trained model (issue #3) and the picture "
        "preprocessing of issue #4. Today you can fetch and inspect the data: "
        "python -m handwriting.data info mnist",
        file=sys.stderr,
    )
    sys.exit(2)
