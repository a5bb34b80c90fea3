"""A training run's settings, and the choices the command-line tools offer, as plain data.

Nothing here imports Paddle or OpenCV: ``train.py --help`` and ``infer.py --help`` read their
defaults and choices from this module and answer at once; the heavy modules are imported only
when there is work to do. Each list names what another module implements:

    RECIPES           named sets of training settings (train.py --recipe)
    MODEL_NAMES       the models registered in ``handwriting.models``
    OPTIMIZERS        the update rules ``engine.make_optimizer`` builds
    SCHEDULES         the learning-rate schedules it builds
    AUGMENTATIONS     the recipes of ``handwriting.augment``, applied by ``engine.fit``
    DEVICES           what ``runtime.pick_device`` accepts
    PREPROCESS_NAMES  the recipes in ``handwriting.preprocess.PREPROCESSORS``
    BACKEND_NAMES     the ways to run a model in ``handwriting.backends.BACKENDS``

``tests/test_cli.py`` checks that MODEL_NAMES, PREPROCESS_NAMES, BACKEND_NAMES and AUGMENTATIONS name
exactly what their registries hold.
"""

from __future__ import annotations

from dataclasses import dataclass, field

MODEL_NAMES = ("linreg", "softmax", "mlp-sigmoid", "mlp", "lenet5", "cnn", "cnn-fast")  # in their registry's order
OPTIMIZERS = ("sgd", "momentum", "rmsprop", "adam", "adamw")
SCHEDULES = ("constant", "cosine", "onecycle")
AUGMENTATIONS = ("none", "rotate10", "affine", "wave", "distort", "flip-shift")
DEVICES = ("auto", "cpu", "gpu")
PREPROCESS_NAMES = ("mnist", "emnist", "fill", "naive")
BACKEND_NAMES = ("auto", "paddle", "inference", "onnx", "numpy")

# Settings that may differ when a run is resumed: where it runs and reads data, not what it computes.
RESUME_MAY_CHANGE = ("device", "amp", "data_dir", "out", "name")


@dataclass
class TrainConfig:
    """Everything that decides a training run; saved in the checkpoint card."""

    # The defaults are the recipe of the shipped models/cnn: `python train.py` retrains it.
    model: str = "cnn"
    dataset: str = "mnist"
    epochs: int = 24
    batch_size: int = 128
    lr: float = 0.004
    optimizer: str = "adamw"
    lr_schedule: str = "onecycle"
    weight_decay: float = 0.01
    augment: str = "distort"
    seed: int = 0
    data_dir: str | None = None
    out: str = "runs"  # never models/: a run with default flags must not replace a shipped model
    name: str | None = None
    device: str = "auto"
    recipe: str = "default"  # the RECIPES entry these settings started from (flags given on top of it)
    amp: bool = False  # O1 mixed precision (float16 where it is safe), on a GPU only
    max_steps: int | None = None
    val_size: int = 0  # hold out the last N training images to choose the epoch to keep
    model_options: dict = field(default_factory=dict)

    @property
    def run_name(self) -> str:
        return self.model if self.name is None else self.name  # "" is refused by RunFiles, not replaced


# train.py --recipe NAME: the settings a recipe names replace TrainConfig's defaults; a flag given on
# the command line still wins over its recipe.
RECIPES: dict[str, dict] = {
    # TrainConfig's own defaults: the recipe of the shipped models/cnn (24 epochs; docs/inside.md says why).
    "default": {},
    # The CPU speed race: 99% MNIST test accuracy as soon as possible from a cold start (bench/time_to_99.py,
    # docs/speed.md). A small stride-2 network, no augmentation, four epochs of one-cycle AdamW on batches of 256.
    "fast": {
        "model": "cnn-fast",
        "epochs": 4,
        "batch_size": 256,
        "lr": 0.02,
        "optimizer": "adamw",
        "lr_schedule": "onecycle",
        "weight_decay": 0.01,
        "augment": "none",
    },
}


def recipe_config(recipe: str = "default", **settings) -> TrainConfig:
    """A ``TrainConfig`` from a recipe's settings, with ``settings`` on top: what ``train.py --recipe``
    builds, for notebooks and benches. An unknown recipe raises ``KeyError`` naming the known ones."""
    if recipe not in RECIPES:
        raise KeyError(f"unknown recipe {recipe!r}; choose one of: {', '.join(RECIPES)}")
    return TrainConfig(**{**RECIPES[recipe], "recipe": recipe, **settings})
