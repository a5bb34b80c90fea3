"""Train and score the NumPy network from the command line, on any dataset, and look at what it reads.

    python -m handwriting.scratch train                       # our best settings -> runs/scratch.npz
    python -m handwriting.scratch evaluate models/scratch.npz
    python -m handwriting.scratch show models/scratch.npz 0 1 2   # test samples 0-2, what it reads

``--dataset`` trains on any dataset ``python -m handwriting.data list`` names (``fashion-mnist``,
``emnist-letters`` ...) or on CSV files (``csv:DIR/NAME``); the network gets one output per class,
and its card names the dataset and its classes. Training also draws the accuracy of every epoch,
``runs/<name>.curves.png``.

The source articles' set-ups, by flags:

    # the pure-Python / Make-Your-Own-Neural-Network article: 784-200-10 sigmoid, no biases,
    # squared error against 0.01/0.99 targets, one example at a time, SGD 0.1, inputs 0.01..1,
    # the training set plus copies turned by +-10 degrees, 5 epochs (article: 96.65%)
    python -m handwriting.scratch train --name article-myonn --hidden 200 --loss squared-error \\
        --no-bias --init article --optimizer sgd --lr 0.1 --lr-decay 1 --batch-size 1 \\
        --epochs 5 --augment rotate10 --inputs 0.01-to-1

    # the NumPy EMNIST article: 784-100-47 sigmoid on EMNIST ByMerge's 47 classes, softmax +
    # cross-entropy, 0.01 * randn weights, SGD with learning rate 1, batches of 1000, inputs 0..1,
    # 20 epochs (article: about 85%); leave out --dataset for the same on MNIST (784-100-10)
    python -m handwriting.scratch train --name article-numpy --dataset emnist-bymerge --hidden 100 \\
        --init small --optimizer sgd --lr 1 --lr-decay 1 --batch-size 1000 --epochs 20 --augment none \\
        --inputs zero-to-one
    python -m handwriting.scratch show runs/article-numpy.npz 0 1 2 3
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from handwriting.errors import UserError, counted, run_at_the_edge
from handwriting.scratch.losses import LOSSES
from handwriting.scratch.net import ACTIVATIONS
from handwriting.scratch.optim import OPTIMIZERS
from handwriting.scratch.samples import SPLITS
from handwriting.scratch.train import AUGMENTATIONS, INPUTS, ScratchConfig

HARDEST_SHOWN = 3  # evaluate names this many of the classes read worst, and of the commonest mistakes


def build_parser() -> argparse.ArgumentParser:
    defaults = ScratchConfig()
    parser = argparse.ArgumentParser(
        prog="python -m handwriting.scratch", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser("train", help="train a network and save it as .npz + .json (+ .curves.png)")
    train.add_argument(
        "--dataset",
        default="mnist",
        metavar="NAME",
        help=f"what to train on: {', '.join(_dataset_names())}, or csv:DIR/NAME for CSV files (default: mnist)",
    )
    train.add_argument(
        "--hidden",
        type=int,
        nargs="+",
        default=list(defaults.hidden),
        metavar="N",
        help=f"hidden layer sizes (default: {' '.join(map(str, defaults.hidden))})",
    )
    train.add_argument(
        "--activation",
        choices=sorted(ACTIVATIONS),
        default=defaults.activation,
        help=f"hidden activation (default: {defaults.activation})",
    )
    train.add_argument(
        "--loss",
        choices=sorted(LOSSES),
        default=defaults.loss,
        help=f"squared-error ends the net with a sigmoid (default: {defaults.loss})",
    )
    train.add_argument(
        "--optimizer", choices=sorted(OPTIMIZERS), default=defaults.optimizer, help=f"(default: {defaults.optimizer})"
    )
    train.add_argument("--lr", type=float, default=defaults.lr, help=f"learning rate (default: {defaults.lr})")
    train.add_argument(
        "--lr-decay",
        type=float,
        default=defaults.lr_decay,
        help=f"multiply the learning rate by this after every epoch (default: {defaults.lr_decay})",
    )
    train.add_argument(
        "--momentum",
        type=float,
        default=defaults.momentum,
        help=f"for --optimizer momentum (default: {defaults.momentum})",
    )
    train.add_argument("--epochs", type=int, default=defaults.epochs, help=f"(default: {defaults.epochs})")
    train.add_argument(
        "--batch-size",
        type=int,
        default=defaults.batch_size,
        help=f"1 trains one example at a time, as the articles do (default: {defaults.batch_size})",
    )
    train.add_argument(
        "--augment",
        choices=sorted(AUGMENTATIONS),
        default=defaults.augment,
        help="shift: every image moved by up to 2 px, fresh each epoch; rotate10: the articles' "
        f"+-10 degree copies (default: {defaults.augment})",
    )
    train.add_argument(
        "--inputs",
        choices=sorted(INPUTS),
        default=defaults.inputs,
        help=f"how pixels are scaled (default: {defaults.inputs}, as the Paddle models)",
    )
    train.add_argument(
        "--init",
        choices=("normal", "small", "article"),
        default=defaults.init,
        help="normal: N(0, 1/sqrt(inputs)); article: N(0, 1/sqrt(outputs)) as the article's code; "
        f"small: 0.01 * N(0, 1) (default: {defaults.init})",
    )
    train.add_argument("--no-bias", action="store_true", help="no bias terms (the articles' network has none)")
    train.add_argument("--dropout", type=float, default=defaults.dropout, help="after each hidden layer (default: 0)")
    train.add_argument("--seed", type=int, default=defaults.seed, help=f"(default: {defaults.seed})")
    train.add_argument("--train-size", type=int, metavar="N", help="train on the first N images only (quick runs)")
    train.add_argument("--name", default="scratch", help="file name in --out (default: scratch)")
    train.add_argument(
        "--out",
        default="runs",
        help="folder for the .npz, .json and .curves.png; the shipped one is in models/ (default: runs)",
    )
    train.add_argument("--data-dir", metavar="DIR", help="data root (default: as handwriting.data)")
    train.add_argument("--overwrite", action="store_true", help="replace a network already saved under --out/--name")

    evaluate = commands.add_parser("evaluate", help="score a saved network on its dataset's test split")
    evaluate.add_argument("network", help="a .npz written by `train` (its .json card beside it)")
    evaluate.add_argument("--json", action="store_true", help="print one JSON object")
    evaluate.add_argument("--data-dir", metavar="DIR", help="data root (default: as handwriting.data)")

    show = commands.add_parser("show", help="print and draw samples of a network's dataset with what it reads")
    show.add_argument("network", help="a .npz written by `train` (its .json card beside it)")
    show.add_argument("numbers", type=int, nargs="+", metavar="N", help="sample numbers in the split, from 0")
    show.add_argument("--split", choices=SPLITS, default="test", help="(default: test)")
    show.add_argument(
        "--out", metavar="PNG", help="the picture (default: runs/<network>.sample-N.png, .samples-N-M-... for several)"
    )
    show.add_argument("--data-dir", metavar="DIR", help="data root (default: as handwriting.data)")
    return parser


def _dataset_names() -> list[str]:
    """The registered datasets, for --help (the registry imports no Paddle: help stays quick)."""
    from handwriting.data.registry import DATASETS

    return sorted(DATASETS)


def train(args: argparse.Namespace) -> None:
    from tqdm import tqdm

    from handwriting.data import get_spec, load
    from handwriting.reports import plot_curves
    from handwriting.scratch.files import network_card, save
    from handwriting.scratch.train import fit

    config = ScratchConfig(
        hidden=tuple(args.hidden),
        activation=args.activation,
        loss=args.loss,
        optimizer=args.optimizer,
        lr=args.lr,
        lr_decay=args.lr_decay,
        momentum=args.momentum,
        epochs=args.epochs,
        batch_size=args.batch_size,
        augment=args.augment,
        inputs=args.inputs,
        init=args.init,
        bias=not args.no_bias,
        dropout=args.dropout,
        seed=args.seed,
    )
    if min(config.hidden, default=1) < 1 or config.epochs < 1 or config.batch_size < 1 or config.lr <= 0:
        raise UserError("--hidden sizes, --epochs and --batch-size must be at least 1, and --lr above 0")
    path = Path(args.out) / f"{args.name}.npz"
    curves = Path(args.out) / f"{args.name}.curves.png"
    # Refused before the data is read and the minutes of training spent, not after.
    spec = get_spec(args.dataset)
    if not args.overwrite and (path.exists() or path.with_suffix(".json").exists()):
        raise UserError(f"{path} already holds a saved model; replace it with --overwrite, or choose another --name")
    data = load(spec, args.data_dir)
    train_split, test_split = data.splits["train"], data.splits["test"]
    images, labels = train_split.images, train_split.labels
    if args.train_size:
        images, labels = images[: args.train_size], labels[: args.train_size]
    per_epoch = len(images) * (3 if config.augment == "rotate10" else 1)
    options = config.network_options(spec.num_classes, images.shape[1:])  # what the card rebuilds it from
    widths = [options["in_features"], *options["hidden"], options["num_classes"]]
    architecture = "-".join(map(str, widths))  # "784-200-10"
    print(
        f"{spec.name}: {architecture} {config.activation}, {config.loss}, {config.optimizer} "
        f"lr {config.lr}, batch {config.batch_size}, {counted(per_epoch, 'image')} an epoch"
    )
    bar = None  # one progress bar per epoch, made on its first batch

    def on_batch(count: int) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(total=per_epoch, unit="img", leave=False, file=sys.stderr)
        bar.update(count)

    def on_epoch(record: dict) -> None:
        nonlocal bar
        if bar is not None:
            bar.close()
            bar = None
        print(
            f"epoch {record['epoch']:3d}  loss {record['train_loss']:.4f}  train {record['train_accuracy']:.2%}  "
            f"test {record['test_accuracy']:.2%}  {record['seconds']:.1f} s ({record['images_per_second']:,.0f} img/s)",
            flush=True,
        )

    start = time.perf_counter()
    net, history = fit(
        config,
        (images, labels),
        (test_split.images, test_split.labels),
        num_classes=spec.num_classes,
        on_batch=on_batch,
        on_epoch=on_epoch,
    )
    card = network_card(
        options,
        config.inputs,
        list(spec.classes),
        config=asdict(config),
        # spec.name: the name get_spec takes back from any folder (a csv: name is made absolute)
        dataset={"name": spec.name, "sha256": data.checksums, "train": len(images)},
        framing=spec.framing,  # how infer.py --backend numpy frames a person's picture for this network
        epochs=history,
        seconds=time.perf_counter() - start,
        test_accuracy=history[-1]["test_accuracy"],
    )
    save(path, net, card)
    plot_curves(
        history, curves, f"{args.name}: {architecture} on {spec.name}, test accuracy {card['test_accuracy']:.2%}"
    )
    print(f"test accuracy {card['test_accuracy']:.2%}; saved {path}, {path.with_suffix('.json')} and {curves}")


def evaluate(args: argparse.Namespace) -> None:
    from handwriting.scratch.files import load as load_network
    from handwriting.scratch.samples import network_dataset
    from handwriting.scratch.train import predictions_and_loss, share_right

    net, card = load_network(args.network)
    data = network_dataset(card, args.network, args.data_dir)
    test = data.splits["test"]
    classes = card["classes"]
    predicted, _ = predictions_and_loss(net, test.images, test.labels, card["inputs"])
    confusion = np.zeros((len(classes), len(classes)), dtype=np.int64)  # [true, predicted] -> images
    np.add.at(confusion, (test.labels, predicted), 1)
    per_class = {
        name: float(confusion[index, index] / max(1, confusion[index].sum())) for index, name in enumerate(classes)
    }
    report = {
        "network": str(args.network),
        "dataset": data.spec.name,
        "test_images": len(test.labels),
        "accuracy": share_right(predicted, test.labels),
        "num_classes": len(classes),
        "per_class_accuracy": per_class,
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"{args.network}: {report['accuracy']:.2%} of {len(test.labels):,} {data.spec.name} test images")
    hardest = sorted(per_class, key=per_class.get)[:HARDEST_SHOWN]
    print(f"hardest of {len(classes)} classes: " + ", ".join(f"{name!r} {per_class[name]:.1%}" for name in hardest))
    mistakes = confusion * (1 - np.eye(len(classes), dtype=np.int64))  # the diagonal is right
    most = np.argsort(-mistakes, axis=None)[:HARDEST_SHOWN]
    pairs = [np.unravel_index(flat, mistakes.shape) for flat in most if mistakes.flat[flat]]
    if pairs:
        print(
            "most often read wrongly: "
            + ", ".join(f"{classes[true]!r} as {classes[read]!r} {mistakes[true, read]:,}" for true, read in pairs)
        )


def show(args: argparse.Namespace) -> None:
    from handwriting.scratch.files import network_stem
    from handwriting.scratch.samples import default_picture, plot_samples, read_samples

    samples, dataset = read_samples(args.network, args.numbers, args.split, args.data_dir)
    for sample in samples:
        print(sample.line())
    picture = Path(args.out) if args.out else default_picture(args.network, args.numbers, args.split)
    plot_samples(samples, picture, f"{network_stem(args.network)} on {dataset} ({args.split} split)")
    print(f"saved {picture}")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    command = {"train": train, "evaluate": evaluate, "show": show}[args.command]
    return run_at_the_edge(lambda: command(args), interrupted="interrupted: nothing was saved")


if __name__ == "__main__":
    sys.exit(main())
