"""Train a model on MNIST, Fashion-MNIST, EMNIST or your own CSV files with PaddlePaddle's dynamic graph.

    python train.py                        # the default CNN (the recipe of models/cnn) -> runs/cnn.*
    python train.py --recipe fast          # 99% in about 40 s on a 2-core CPU -> runs/cnn-fast.*
    python train.py --device gpu --amp     # on a GPU, in mixed precision
    python -m paddle.distributed.launch --nproc_per_node 4 train.py   # 4 GPUs (or CPU processes) as one run
    python train.py --model mlp --epochs 20 --lr 0.001 --optimizer adam --lr-schedule constant
    python train.py --model cnn --max-steps 20 --epochs 1 --name smoke   # a quick smoke run
    python train.py --resume               # continue runs/cnn after its last finished epoch
    python train.py --finetune models/cnn.pdparams --pictures my_digits/   # learn your misreads

After every epoch it saves, as one commit (a run killed at any instant resumes exactly):
runs/<name>.pdparams (the kept weights), .json (how to rebuild the model, every epoch's metrics),
.log.jsonl (one JSON line per epoch), .curves.png, and runs/<name>.run/ (what --resume needs).
A name that already holds a run is refused unless --resume or --overwrite; two train.py on one
name at once are refused too. Ctrl-C or `kill PID` (SIGTERM) stops a run with one line saying which
epoch is saved and how to resume; the exit status is 130 after Ctrl-C, 143 after SIGTERM.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys

# Only Paddle-free modules at the top: --help answers without waiting for Paddle to import.
from handwriting.config import (
    AUGMENTATIONS,
    DEVICES,
    MODEL_NAMES,
    OPTIMIZERS,
    RECIPES,
    RESUME_MAY_CHANGE,
    SCHEDULES,
    TrainConfig,
)
from handwriting.data.registry import CSV_SCHEME, DATASETS
from handwriting.errors import UserError, counted, interrupt_on_sigterm, require_paddle, run_at_the_edge
from handwriting.finetune import DEFAULT_BATCH as FINETUNE_BATCH
from handwriting.finetune import DEFAULT_LR as FINETUNE_LR
from handwriting.finetune import DEFAULT_STEPS as FINETUNE_STEPS
from handwriting.runtime import quiet_paddle_import_warnings

DEFAULTS = "(default: %(default)s)"


def build_parser() -> argparse.ArgumentParser:
    base = TrainConfig()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add = parser.add_argument
    add(
        "--recipe",
        default=base.recipe,
        choices=RECIPES,
        help="a named set of the settings below; flags you give still win. "
        + "; ".join(f"{name}: {describe_recipe(name)}" for name in RECIPES)
        + f" {DEFAULTS}",
    )
    add("--model", default=base.model, choices=MODEL_NAMES, help=f"which network {DEFAULTS}")
    add(
        "--dataset",
        default=base.dataset,
        type=dataset_name,
        metavar="NAME",
        help=f"training data: {', '.join(sorted(DATASETS))}, or csv:DIR/NAME for DIR/NAME_train.csv and _test.csv "
        f"{DEFAULTS}",
    )
    add(
        "--model-option",
        dest="model_options",
        action="append",
        type=model_option,
        metavar="KEY=VALUE",
        help="a constructor argument of the model, repeatable: --model-option width=32 (cnn: width, dropout; mlp, "
        "mlp-sigmoid: hidden, activation, dropout) (default: the model's own)",
    )
    add("--epochs", type=int, default=base.epochs, help=f"passes over the training set {DEFAULTS}")
    add(
        "--batch-size",
        type=int,
        default=base.batch_size,
        help=f"images per step (per process under paddle.distributed.launch) {DEFAULTS}",
    )
    add("--lr", type=float, default=base.lr, help=f"learning rate (peak rate for onecycle) {DEFAULTS}")
    add("--optimizer", default=base.optimizer, choices=OPTIMIZERS, help=f"update rule {DEFAULTS}")
    add("--lr-schedule", default=base.lr_schedule, choices=SCHEDULES, help=f"learning-rate schedule {DEFAULTS}")
    add("--weight-decay", type=float, default=base.weight_decay, help=f"L2 / decoupled weight decay {DEFAULTS}")
    add(
        "--augment",
        default=base.augment,
        choices=AUGMENTATIONS,
        help="rotate10: add the articles' +-10 degree copies; affine: random rotate/scale/shear/shift; wave: "
        "affine, and on 15%% of the pictures a shaky hand; distort: wave, and on the same 15%% an elastic "
        "warp, sometimes another pen or noise; "
        f"flip-shift: random mirror and shift, for clothes (a mirror changes a character) {DEFAULTS}",
    )
    add("--seed", type=int, default=base.seed, help=f"seed for weights, shuffling, dropout and augmentation {DEFAULTS}")
    add("--data-dir", metavar="DIR", help="data root (default: $HANDWRITING_DATA, else ~/.cache/paddle/dataset)")
    add("--out", default=base.out, metavar="DIR", help=f"checkpoint folder (shipped ones: models/) {DEFAULTS}")
    add("--name", help="checkpoint name, a plain file name (default: the model's name)")
    add("--device", default=base.device, choices=DEVICES, help=f"where to train {DEFAULTS}")
    add(
        "--amp",
        action="store_true",
        help="mixed precision on a GPU: float16 convolutions and matrix products, the loss scaled so small "
        "gradients survive (paddle.amp O1 and GradScaler) (default: off; refused on the CPU, where it does nothing)",
    )
    add("--max-steps", type=int, metavar="N", help="stop each epoch after N steps, for smoke runs (default: no limit)")
    add(
        "--val-size",
        type=int,
        default=base.val_size,
        metavar="N",
        help=f"hold out the last N training images and keep the epoch that scores best on them {DEFAULTS}",
    )
    add("--resume", action="store_true", help="continue the run saved under --out/--name after its last epoch")
    add(
        "--finetune",
        metavar="CHECKPOINT",
        help="instead of training from scratch, teach this trained model your own --pictures, with replay of its "
        "training data so it forgets nothing (default: off)",
    )
    add(
        "--pictures",
        metavar="DIR",
        help="--finetune's labelled pictures: DIR/7/photo.jpg or DIR/7_photo.jpg (default: none)",
    )
    add(
        "--finetune-steps",
        type=int,
        default=FINETUNE_STEPS,
        metavar="N",
        help=f"--finetune's steps; its --lr is {FINETUNE_LR} and --batch-size {FINETUNE_BATCH} unless given {DEFAULTS}",
    )
    add("--overwrite", action="store_true", help="replace a run already saved under --out/--name")
    return parser


def describe_recipe(name: str) -> str:
    """A recipe's settings as the flags that would give them: "--model cnn-fast --epochs 4 ..."."""
    settings = RECIPES[name]
    if not settings:
        return "the defaults shown here (the shipped models/cnn)"
    return " ".join(f"{flag(key)} {value}" for key, value in settings.items())


def dataset_name(text: str) -> str:
    """--dataset's value: a registered dataset or ``csv:DIR/NAME``, checked by its form only (the
    CSV files are read when training starts)."""
    if text in DATASETS:
        return text
    if not text.startswith(CSV_SCHEME):
        raise argparse.ArgumentTypeError(
            f"unknown dataset {text!r}; choose one of {', '.join(sorted(DATASETS))}, "
            "or csv:DIR/NAME for DIR/NAME_train.csv and _test.csv"
        )
    from handwriting.data.csvfiles import csv_prefix

    try:
        csv_prefix(text)
    except UserError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return text


def model_option(text: str) -> tuple[str, object]:
    """``KEY=VALUE`` -> (key, value); the value is read as JSON when it can be (32, 0.5, [64, 32]),
    else kept as text (relu)."""
    import json

    key, equals, value = text.partition("=")
    if not equals or not key.isidentifier():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE such as width=32, got {text!r}")
    try:
        return key, json.loads(value)
    except ValueError:
        return key, value


def training_options(args: argparse.Namespace) -> dict:
    """The parsed flags that are ``TrainConfig`` settings (not --resume, --finetune, ...), as its arguments."""
    from dataclasses import fields

    options = {field.name: getattr(args, field.name) for field in fields(TrainConfig)}
    options["model_options"] = dict(args.model_options or [])
    return options


def given_flags(argv: list[str] | None) -> set[str]:
    """The settings named on the command line (not left at their defaults)."""
    parser = build_parser()
    for action in parser._actions:
        action.default = argparse.SUPPRESS
    return set(vars(parser.parse_args(argv)))


def saved_settings(options: dict) -> dict:
    """The settings a saved run was started with (its card's "config"), those train.py can take;
    {} when there is no such run (fit then says so)."""
    from dataclasses import fields

    from handwriting.checkpoint import built_options, read_card
    from handwriting.runs import RunFiles

    config = TrainConfig(**options)
    run = RunFiles(config.out, config.run_name)
    if not run.card.exists():
        return {}
    card = read_card(run.card)
    saved = card.get("config")
    if not isinstance(saved, dict):
        return {}
    defaults = TrainConfig()
    settings = {}
    for field in fields(TrainConfig):
        if field.name not in saved or field.name in RESUME_MAY_CHANGE:
            continue
        value, default = saved[field.name], getattr(defaults, field.name)
        expected = {float: (int, float), type(None): (int, type(None))}.get(type(default), type(default))
        if not isinstance(value, expected) or isinstance(value, bool):
            raise UserError(f"--resume: {run.card}'s settings are damaged ({field.name}: {value!r})")
        settings[field.name] = value
    built = built_options(card)
    if built is not None and "model_options" in settings:
        # Every constructor argument as the run built it: a default changed since (the cnn's width)
        # must not change the model a resumed run rebuilds.
        settings["model_options"] = built
    return settings


# What --finetune takes from the command line; every other flag belongs to training from scratch.
FINETUNE_FLAGS = {
    "finetune",
    "pictures",
    "finetune_steps",
    "lr",
    "batch_size",
    "seed",
    "data_dir",
    "out",
    "name",
    "overwrite",
}


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def finetune(args: argparse.Namespace, given: set[str]) -> None:
    """--finetune: teach a trained model the pictures in --pictures (``handwriting.finetune``)."""
    from handwriting.finetune import finetune as run_finetune

    interrupt_on_sigterm()
    if not args.pictures:
        raise UserError("--finetune needs --pictures DIR: your pictures, in label folders (7/a.jpg) or named 7_a.jpg")
    unused = sorted(given - FINETUNE_FLAGS)
    if unused:
        raise UserError(
            f"--finetune starts from the checkpoint's own model and data; it takes no {', '.join(map(flag, unused))}"
        )
    card, weights = run_finetune(
        args.finetune,
        args.pictures,
        out=args.out,
        name=args.name,
        steps=args.finetune_steps,
        lr=args.lr if "lr" in given else FINETUNE_LR,
        batch_size=args.batch_size if "batch_size" in given else FINETUNE_BATCH,
        seed=args.seed,
        data_dir=args.data_dir,
        overwrite=args.overwrite,
    )
    tuned = card["finetune"]
    print(
        f"{tuned['read_right_after']} of {tuned['count']} of your pictures read right "
        f"(was {tuned['read_right_before']}); "
        f"test accuracy {tuned['test_accuracy_after']:.2%} (was {tuned['test_accuracy_before']:.2%}); saved {weights}\n"
        f"try it: python infer.py {shlex.quote(str(args.pictures))} --model {shlex.quote(str(weights))}"
    )


def train(args: argparse.Namespace, given: set[str] = frozenset()) -> None:
    require_paddle("training")
    from handwriting.engine import fit  # imports Paddle, which takes over SIGTERM
    from handwriting.parallel import ranks_from_environment
    from handwriting.runs import RunFiles

    if args.finetune:
        return finetune(args, given)
    if args.pictures or "finetune_steps" in given:
        raise UserError(f"{'--pictures' if args.pictures else '--finetune-steps'} is for --finetune CHECKPOINT")
    interrupt_on_sigterm()  # `kill PID` now stops the run as Ctrl-C does, with exit status 143
    if args.val_size < 0:
        raise UserError(f"--val-size must not be negative, got {args.val_size}")
    for flag in ("epochs", "batch_size", "max_steps"):
        value = getattr(args, flag)
        if value is not None and value < 1:
            raise UserError(f"--{flag.replace('_', '-')} must be at least 1, got {value}")
    if args.lr <= 0:
        raise UserError(f"--lr must be positive, got {args.lr}")
    if args.resume and args.overwrite:
        raise UserError("--resume continues a run and --overwrite replaces it: give one of them")
    options = training_options(args)
    recipe = RECIPES[args.recipe]  # its settings, for every flag not given on this command line
    options.update({key: value for key, value in recipe.items() if key not in given})
    if args.resume:  # the run's own settings, for every flag not given on this command line
        options.update({key: value for key, value in saved_settings(options).items() if key not in given})
    config = TrainConfig(**options)
    card = fit(config, resume=args.resume, overwrite=args.overwrite)
    if not ranks_from_environment().main:
        return  # one of several processes paddle.distributed.launch started: rank 0 speaks for the run
    weights = RunFiles(config.out, config.run_name).weights
    print(
        f"test accuracy {card['test_accuracy']:.4f} after {counted(len(card['epochs']), 'epoch')}; saved {weights}\n"
        f"try it: python infer.py work/ --model {shlex.quote(str(weights))}"
    )


def main(argv: list[str] | None = None) -> int:
    quiet_paddle_import_warnings()
    args = build_parser().parse_args(argv)
    given = given_flags(argv)
    return run_at_the_edge(lambda: train(args, given), interrupted="interrupted")


if __name__ == "__main__":
    status = main()
    if status in (130, 143):  # stopped by Ctrl+C or kill, the run saved and said so
        # Skip the interpreter's teardown: Paddle's C++ threads, caught mid-step, can make it abort
        # ("terminate called without an active exception", SIGABRT) about once in 50 stops.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)
    sys.exit(status)
