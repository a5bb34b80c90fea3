"""Train and score the NumPy network from the command line.

    python -m handwriting.scratch train                       # our best settings -> runs/scratch.npz
    python -m handwriting.scratch evaluate models/scratch.npz

The source articles' set-ups, by flags:

    # the pure-Python / Make-Your-Own-Neural-Network article: 784-200-10 sigmoid, no biases,
    # squared error against 0.01/0.99 targets, one example at a time, SGD 0.1, inputs 0.01..1,
    # the training set plus copies turned by +-10 degrees, 5 epochs (article: 96.65%)
    python -m handwriting.scratch train --name article-myonn --hidden 200 --loss squared-error \\
        --no-bias --init article --optimizer sgd --lr 0.1 --lr-decay 1 --batch-size 1 \\
        --epochs 5 --augment rotate10 --inputs 0.01-to-1

    # the NumPy EMNIST article, on MNIST: 784-100-10 sigmoid, softmax + cross-entropy,
    # 0.01 * randn weights, SGD with learning rate 1, batches of 1000, inputs 0..1
    python -m handwriting.scratch train --name article-numpy --hidden 100 --init small \\
        --optimizer sgd --lr 1 --lr-decay 1 --batch-size 1000 --epochs 20 --augment none \\
        --inputs zero-to-one
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

from handwriting.errors import UserError, counted, run_at_the_edge
from handwriting.scratch.losses import LOSSES
from handwriting.scratch.net import ACTIVATIONS
from handwriting.scratch.optim import OPTIMIZERS
from handwriting.scratch.train import AUGMENTATIONS, INPUTS, ScratchConfig


def build_parser() -> argparse.ArgumentParser:
    defaults = ScratchConfig()
    parser = argparse.ArgumentParser(
        prog="python -m handwriting.scratch", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser("train", help="train a network and save it as .npz + .json")
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
        help="shift: every digit moved by up to 2 px, fresh each epoch; rotate10: the articles' "
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
        "--out", default="runs", help="folder for the .npz and .json; the shipped one is in models/ (default: runs)"
    )
    train.add_argument("--data-dir", metavar="DIR", help="data root (default: as handwriting.data)")
    train.add_argument("--overwrite", action="store_true", help="replace a network already saved under --out/--name")

    evaluate = commands.add_parser("evaluate", help="score a saved network on its dataset's test split")
    evaluate.add_argument("network", help="a .npz written by `train` (its .json card beside it)")
    evaluate.add_argument("--json", action="store_true", help="print one JSON object")
    evaluate.add_argument("--data-dir", metavar="DIR", help="data root (default: as handwriting.data)")
    return parser


def train(args: argparse.Namespace) -> None:
    from tqdm import tqdm

    from handwriting.data import get_spec, load
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
    # Refused before the data is read and the minutes of training spent, not after.
    if not args.overwrite and (path.exists() or path.with_suffix(".json").exists()):
        raise UserError(f"{path} already holds a saved model; replace it with --overwrite, or choose another --name")
    spec = get_spec("mnist")
    data = load(spec, args.data_dir)
    train_split, test_split = data.splits["train"], data.splits["test"]
    images, labels = train_split.images, train_split.labels
    if args.train_size:
        images, labels = images[: args.train_size], labels[: args.train_size]
    per_epoch = len(images) * (3 if config.augment == "rotate10" else 1)
    options = config.network_options(len(spec.classes), images.shape[1:])  # what the card rebuilds it from
    widths = [options["in_features"], *options["hidden"], options["num_classes"]]
    print(
        f"{'-'.join(map(str, widths))} {config.activation}, {config.loss}, {config.optimizer} "
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
        num_classes=len(spec.classes),
        on_batch=on_batch,
        on_epoch=on_epoch,
    )
    card = network_card(
        options,
        config.inputs,
        list(spec.classes),
        config=asdict(config),
        dataset={"name": spec.name, "sha256": data.checksums, "train": len(images)},
        epochs=history,
        seconds=time.perf_counter() - start,
        test_accuracy=history[-1]["test_accuracy"],
    )
    save(path, net, card)
    print(f"test accuracy {card['test_accuracy']:.2%}; saved {path} and {path.with_suffix('.json')}")


def evaluate(args: argparse.Namespace) -> None:
    from handwriting.data import get_spec, load
    from handwriting.scratch.files import load as load_network
    from handwriting.scratch.train import accuracy

    net, card = load_network(args.network)
    dataset = card.get("dataset", {}).get("name", "mnist")
    test = load(get_spec(dataset), args.data_dir).splits["test"]
    score = accuracy(net, test.images, test.labels, card["inputs"])
    report = {"network": str(args.network), "dataset": dataset, "test_images": len(test.labels), "accuracy": score}
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"{args.network}: {score:.2%} of {len(test.labels):,} {dataset} test images")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    command = train if args.command == "train" else evaluate
    return run_at_the_edge(lambda: command(args), interrupted="interrupted: nothing was saved")


if __name__ == "__main__":
    sys.exit(main())
