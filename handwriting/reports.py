"""Pictures people would rather look at than read: training curves, confusion matrices, galleries."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

from handwriting.atomic import atomic_path


def drawn_into(path: str | os.PathLike, draw, flag: str = "--out") -> None:
    """Make ``path``'s folder and call ``draw(path)``; a place that cannot be written (a folder, no
    permission, a full disk) is one ``UserError`` line naming ``flag``."""
    from handwriting.errors import UserError, describe_os_error

    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        draw(path)
    except OSError as error:
        raise UserError(f"cannot write {path}: {describe_os_error(error)}; choose another {flag}") from None


def _save_figure(figure, path: Path) -> None:
    """Save a matplotlib figure as PNG, atomically."""
    with atomic_path(path, suffix=".png") as temporary:
        figure.savefig(temporary, dpi=110, bbox_inches="tight")


def plot_curves(epochs: list[dict], path: str | os.PathLike, title: str = "") -> None:
    """Train-vs-test accuracy and loss per epoch, side by side, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")  # files only: works on servers and in CI with no screen
    from matplotlib import pyplot as plt

    numbers = [record["epoch"] for record in epochs]
    figure, (accuracy, loss) = plt.subplots(1, 2, figsize=(10, 3.8))
    for axis, key, label in ((accuracy, "accuracy", "accuracy"), (loss, "loss", "loss")):
        axis.plot(numbers, [record[f"train_{key}"] for record in epochs], "o-", label="train")
        axis.plot(numbers, [record[f"test_{key}"] for record in epochs], "s-", label="test")
        axis.set_xlabel("epoch")
        axis.set_ylabel(label)
        axis.grid(alpha=0.3)
        axis.legend()
    accuracy.set_title(f"accuracy (last test {epochs[-1]['test_accuracy']:.2%})")
    loss.set_title("loss")
    if title:
        figure.suptitle(title)
    _save_figure(figure, Path(path))
    plt.close(figure)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    return plt


def plot_confusion(matrix, classes: list[str], path: str | os.PathLike, title: str = "") -> None:
    """A confusion matrix (rows: true class, columns: predicted) with counts in the cells."""
    import numpy as np

    plt = _pyplot()
    size = max(4.5, 0.45 * len(classes) + 2)
    figure, axis = plt.subplots(figsize=(size, size))
    # Log colour scale: the diagonal holds thousands, the mistakes a handful.
    axis.imshow(np.log1p(matrix), cmap="Blues")
    long_names = max(len(name) for name in classes) > 3  # "T-shirt/top" must not overlap its neighbour
    axis.set_xticks(
        range(len(classes)), classes, rotation=90 if long_names else 0, fontsize=8 if len(classes) > 20 else None
    )
    axis.set_yticks(range(len(classes)), classes, fontsize=8 if len(classes) > 20 else None)
    axis.set_xlabel("predicted")
    axis.set_ylabel("true")
    if len(classes) <= 20:
        threshold = np.log1p(matrix).max() / 2
        for row in range(len(classes)):
            for column in range(len(classes)):
                count = int(matrix[row, column])
                if count:
                    colour = "white" if np.log1p(count) > threshold else "black"
                    axis.text(column, row, str(count), ha="center", va="center", fontsize=8, color=colour)
    axis.set_title(title)
    _save_figure(figure, Path(path))
    plt.close(figure)


def plot_gallery(images, captions: list[str], path: str | os.PathLike, title: str = "", columns: int = 10) -> None:
    """A grid of grey images ([N, H, W] uint8, white ink on black) with a caption under each; a
    None in a list of images leaves its cell empty."""
    plt = _pyplot()
    count = max(1, len(images))
    rows = -(-count // columns)
    # Room for the captions: "Shirt\n→T-shirt/top 99%" needs a wider column and a taller row than "4→9 99%".
    lines = [caption.splitlines() or [""] for caption in captions] or [[""]]
    column_width = max(1.1, 0.065 * max(len(line) for caption in lines for line in caption))
    row_height = 1.2 + 0.14 * max(len(caption) for caption in lines)
    figure, axes = plt.subplots(rows, columns, figsize=(columns * column_width, rows * row_height), squeeze=False)
    for index, axis in enumerate(axes.flat):
        axis.axis("off")
        if index < len(images) and images[index] is not None:
            axis.imshow(images[index], cmap="gray", vmin=0, vmax=255)
            axis.set_title(captions[index], fontsize=7)
    if title:
        figure.suptitle(title, y=1.0 + 0.08 * (row_height > 1.4))  # above two-line captions
    _save_figure(figure, Path(path))
    plt.close(figure)


def plot_predictions(results, path: str | os.PathLike, title: str = "", columns: int = 6) -> None:
    """Each picture as it was read, beside the 28x28 the model saw, captioned with what it read.

    ``results`` are ``handwriting.recognise.Result`` objects kept with their thumbnails.
    """
    import numpy as np

    plt = _pyplot()
    count = max(1, len(results))
    columns = min(columns, count)
    rows = -(-count // columns)
    wide = 1.5 if any(result.characters for result in results) else 1.0  # a row of characters needs room
    figure, axes = plt.subplots(rows, 2 * columns, figsize=(columns * 2.4 * wide, rows * 1.5 * wide), squeeze=False)
    for axis in axes.flat:
        axis.axis("off")
    for index, result in enumerate(results):
        picture_axis, frame_axis = (
            axes[index // columns, 2 * (index % columns)],
            axes[index // columns, 2 * (index % columns) + 1],
        )
        name = Path(result.path).name
        if result.characters:  # the cleaned ink with each character's box, as the marks were found
            picture_axis.imshow(255 - result.ink, cmap="gray", vmin=0, vmax=255)
            _draw_boxes(picture_axis, [character.box for character in result.characters])
        elif result.thumbnail is not None:
            picture_axis.imshow(result.thumbnail, cmap="gray", vmin=0, vmax=255)
        picture_axis.set_title(name if len(name) <= 18 else name[:15] + "…", fontsize=7)
        if result.error is not None:
            reason = textwrap.fill(result.error.split(" (")[0], width=16)  # "no handwriting found", ...
            frame_axis.text(0.5, 0.5, reason, ha="center", va="center", fontsize=7, color="red")
            continue
        frames = [character.frame for character in result.characters] or [result.frame]
        frame_axis.imshow(np.hstack(frames), cmap="gray", vmin=0, vmax=255)  # [28, 28 * characters]
        confidence = "" if result.confidence is None else f" {result.confidence:.0%}"
        label = result.label.replace("\n", " / ")
        if result.characters and len(label) > 12:
            label = label[:11] + "…"
        frame_axis.set_title(f"→ {label}{confidence}", fontsize=9, fontweight="bold")
    if title:
        figure.suptitle(title, fontsize=10)
    _save_figure(figure, Path(path))
    plt.close(figure)


def _draw_boxes(axis, boxes) -> None:
    """Rectangles (left, top, right, bottom), in pixels, over an ``imshow`` picture."""
    from matplotlib.patches import Rectangle

    for left, top, right, bottom in boxes:
        axis.add_patch(
            Rectangle((left - 0.5, top - 0.5), right - left, bottom - top, fill=False, edgecolor="red", linewidth=0.8)
        )


# Box colours of the model diagram, by the kind of layer.
LAYER_COLOURS = {
    "Conv2D": "#cfe2f3",
    "Linear": "#d9ead3",
    "BatchNorm2D": "#fff2cc",
    "MaxPool2D": "#f4cccc",
    "AvgPool2D": "#f4cccc",
    "Dropout": "#eeeeee",
    "Flatten": "#eeeeee",
}


def plot_model(rows, in_shape: list[int], total: int, path: str | os.PathLike, title: str = "") -> None:
    """A diagram of a model, one box per layer from input to output, as Keras' ``plot_model``:
    each box names the layer, its output shape and its parameters. ``rows`` are
    ``models.layer_rows``'s (type, output shape, parameters)."""
    plt = _pyplot()
    from matplotlib.patches import FancyBboxPatch

    boxes = [("Input", in_shape, 0), *rows]
    height = 0.55 * len(boxes) + 0.8
    figure, axis = plt.subplots(figsize=(4.6, height))
    axis.set_xlim(0, 1)
    axis.set_ylim(-len(boxes) - 0.1, 0.6)
    axis.axis("off")
    for index, (name, shape, parameters) in enumerate(boxes):
        y = -index
        colour = "#ffffff" if name == "Input" else LAYER_COLOURS.get(name, "#ead1dc")  # activations: pink
        axis.add_patch(
            FancyBboxPatch((0.08, y - 0.32), 0.84, 0.64, boxstyle="round,pad=0.02", facecolor=colour, edgecolor="#444")
        )
        detail = f"{'x'.join(str(size) for size in shape[1:])}" + (f"   {parameters:,} params" if parameters else "")
        axis.text(0.5, y + 0.1, name, ha="center", va="center", fontsize=9, fontweight="bold")
        axis.text(0.5, y - 0.15, detail, ha="center", va="center", fontsize=8, color="#333")
        if index:
            axis.annotate(
                "", xy=(0.5, y + 0.34), xytext=(0.5, y + 0.66), arrowprops={"arrowstyle": "->", "color": "#444"}
            )
    axis.text(0.5, -len(boxes) + 0.2, f"total: {total:,} parameters", ha="center", va="center", fontsize=9)
    if title:
        axis.set_title(title, fontsize=9)
    _save_figure(figure, Path(path))
    plt.close(figure)
