"""Weights both ways between Paddle's MLPs (``handwriting.models``) and the NumPy network.

    python -m handwriting.bridge models/mlp-sigmoid.pdparams   # -> runs/mlp-sigmoid.numpy.npz + .json
    python -m handwriting.bridge models/scratch.npz            # -> runs/scratch.paddle.pdparams + .json

What it writes goes to ``runs/`` (as ``train.py``'s runs, never beside a shipped model) unless
``--out`` names the file; files already there are replaced only with ``--overwrite``.

Both sides name and shape their parameters alike (``layers.1.weight`` is [784, 200] in each), so
a conversion is a copy: nothing is transposed. Paddle's MLPs always have biases; a NumPy net
without them (the articles') gets zero biases. A NumPy net trained for squared error ends in a
sigmoid the Paddle MLP lacks: the sigmoid keeps the order of the outputs, so the two read the
same digit, though the Paddle model then returns the logits before it.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path

import numpy as np

from handwriting.errors import UserError, counted, run_at_the_edge
from handwriting.preprocess.pixels import NORMALISATION
from handwriting.runtime import quiet_paddle_import_warnings
from handwriting.scratch.files import load as load_scratch
from handwriting.scratch.files import network_card
from handwriting.scratch.files import save as save_scratch
from handwriting.scratch.layers import Sequential
from handwriting.scratch.net import mlp, network_options
from handwriting.weights import write_state

MLP_MODELS = ("mlp", "mlp-sigmoid")
IN_SHAPE = [1, 28, 28]  # MNIST's frame: the only input both backends are fed (infer.py's preprocessing)


def paddle_to_scratch(checkpoint: str | os.PathLike) -> tuple[Sequential, dict]:
    """A ``train.py`` checkpoint of an MLP -> (the same network in NumPy, its card)."""
    from handwriting.checkpoint import load_model

    model, card = load_model(checkpoint)
    name = card["model"]["name"]
    if name not in MLP_MODELS or list(card["model"]["in_shape"]) != IN_SHAPE:
        raise UserError(
            f"{checkpoint} holds a {name!r} model; only the fully connected {' and '.join(MLP_MODELS)} "
            "have a NumPy twin"
        )
    options = card["model"]["options"]
    network = network_options(
        hidden=options["hidden"],
        activation=options["activation"],
        num_classes=len(card["classes"]),
        image_shape=card["model"]["in_shape"],
        dropout=options.get("dropout", 0.0),
    )  # Paddle's MLPs always have biases and return logits: the defaults
    net = mlp(**network)
    net.load_state_dict({key: value.numpy() for key, value in model.state_dict().items()})
    net.eval()
    scratch_card = network_card(
        network,
        "minus-one-to-one",
        card["classes"],
        converted_from=str(checkpoint),
        dataset=card.get("dataset", {}),
        framing=card.get("framing", "mnist"),  # how infer.py frames pictures for it, as for the original
        test_accuracy=card.get("test_accuracy"),
    )
    return net, scratch_card


def scratch_to_paddle(network_file: str | os.PathLike):
    """A NumPy network's ``.npz`` -> (a Paddle ``handwriting.models`` MLP with its weights, the
    ``train.py``-style card that rebuilds it)."""
    import paddle

    from handwriting.models import build_model

    net, card = load_scratch(network_file)
    if card["inputs"] != "minus-one-to-one":
        raise UserError(
            f"{network_file} was trained on inputs scaled {card['inputs']}; the Paddle models take "
            "minus-one-to-one (retrain with --inputs minus-one-to-one)"
        )
    options = card["network"]
    in_features = options.get("in_features", 784)  # a card without it has mlp's default, 28 * 28
    if in_features != math.prod(IN_SHAPE):
        raise UserError(
            f"{network_file} takes {counted(in_features, 'input')}; the Paddle MLPs take MNIST's 1x28x28 = 784 pixels"
        )
    model_options = {
        "hidden": list(options["hidden"]),
        "activation": options.get("activation", "sigmoid"),
        "dropout": float(options.get("dropout", 0.0)),
    }
    model = build_model("mlp", num_classes=len(card["classes"]), in_shape=tuple(IN_SHAPE), **model_options)
    state = {}
    for key, value in model.state_dict().items():
        # No biases in the NumPy net (the articles'): zero ones do nothing.
        array = net.state_dict().get(key, np.zeros(value.shape, np.float32))
        state[key] = paddle.to_tensor(np.asarray(array, dtype=np.float32))
    model.set_state_dict(state)
    model.eval()
    paddle_card = {
        "model": {"name": "mlp", "task": "classify", "options": model_options, "in_shape": IN_SHAPE},
        "classes": card["classes"],
        "normalisation": NORMALISATION,
        "framing": card.get("framing", "mnist"),
        "dataset": card.get("dataset", {}),
        "config": {"name": Path(network_file).stem},
        "converted_from": str(network_file),
        "test_accuracy": card.get("test_accuracy"),
    }
    return model, paddle_card


def main(argv: list[str] | None = None) -> int:
    quiet_paddle_import_warnings()
    parser = argparse.ArgumentParser(
        prog="python -m handwriting.bridge", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("source", help="a .pdparams of an MLP, or a NumPy network's .npz")
    parser.add_argument(
        "--out",
        metavar="PATH",
        help="where to write (default: runs/<name>.paddle.pdparams or runs/<name>.numpy.npz, the card beside it)",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace files already at --out (default: refuse)")
    args = parser.parse_args(argv)

    def work() -> None:
        from handwriting import checkpoint

        source = Path(args.source)
        if source.suffix not in (".npz", ".pdparams"):
            raise UserError(f"{source}: give a .pdparams (Paddle MLP) or a .npz (NumPy network)")
        to_paddle = source.suffix == ".npz"
        suffix = ".pdparams" if to_paddle else ".npz"
        # Both formats keep their card in <name>.json: the default name keeps them apart. Names
        # are kept whole: --out a.b writes a.b.npz and a.b.json, never a.npz.
        if args.out:
            out = Path(args.out if args.out.endswith(suffix) else args.out + suffix)
        else:  # runs/, as train.py's: a conversion never lands in models/ or the repository
            out = Path("runs") / (source.name[: -len(source.suffix)] + (".paddle" if to_paddle else ".numpy") + suffix)
        out_card = out.with_name(out.name[: -len(suffix)] + ".json")
        source_card = source.with_name(source.name[: -len(source.suffix)] + ".json")
        if out_card.resolve() == source_card.resolve():
            raise UserError(f"--out {out} would overwrite {source_card}, the source's own card")
        existing = [path for path in (out, out_card) if path.exists()]
        if existing and not args.overwrite:
            raise UserError(f"{existing[0]} already exists; replace it with --overwrite, or choose another --out")
        out.parent.mkdir(parents=True, exist_ok=True)
        if to_paddle:
            model, card = scratch_to_paddle(source)
            write_state(out, model.state_dict())
            checkpoint.save_card(out_card, card)
        else:
            net, card = paddle_to_scratch(source)
            save_scratch(out, net, card)
        print(f"wrote {out} and {out_card}")

    return run_at_the_edge(work, interrupted="interrupted")


if __name__ == "__main__":
    sys.exit(main())
