"""Score a trained checkpoint on its dataset's test split.

    python -m handwriting.evaluate models/cnn.pdparams          # table + PNGs in runs/
    python -m handwriting.evaluate models/cnn.pdparams --json   # one JSON object

Reports accuracy and per-class accuracy, and draws the confusion matrix
(``runs/<name>.confusion.png``) and a gallery of misclassified images (``runs/<name>.errors.png``).
They go to runs/ unless --out-dir says otherwise: never beside a shipped model unless asked
(``--out-dir models`` redraws the ones in models/).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from handwriting.errors import counted, require_paddle, run_at_the_edge
from handwriting.runtime import quiet_paddle_import_warnings


def predict(model, task: str, images: np.ndarray, num_classes: int, batch_size: int = 1000):
    """Class predictions [N] and confidences [N] for uint8 images [N, H, W] (white ink on black).

    Confidence is the softmax probability of the predicted class; the regression baseline
    has no probabilities, so its confidence is NaN.
    """
    import paddle

    from handwriting.models import decide
    from handwriting.preprocess import normalize

    predictions, confidences = [], []
    model.eval()
    with paddle.no_grad():
        for start in range(0, len(images), batch_size):
            batch = paddle.to_tensor(normalize(images[start : start + batch_size])[:, None])
            predicted, confidence = decide(task, model(batch), num_classes)
            predictions.append(predicted.numpy())
            confidences.append(np.full(len(batch), np.nan) if confidence is None else confidence.numpy())
    return np.concatenate(predictions), np.concatenate(confidences)


# Where the PNGs go unless told: train.py's folder, never models/ (what is shipped changes only on purpose).
DEFAULT_OUT_DIR = "runs"


def evaluate_checkpoint(
    path: str | Path, data_dir: str | None = None, out_dir: str | Path = DEFAULT_OUT_DIR, gallery_size: int = 50
) -> dict:
    """Evaluate the checkpoint at ``path``; write the two PNGs into ``out_dir``; return the report."""
    from handwriting.checkpoint import load_model
    from handwriting.checkpoint import stem as checkpoint_stem
    from handwriting.data.store import load_for_card
    from handwriting.reports import plot_confusion, plot_gallery
    from handwriting.runtime import use_all_cores

    use_all_cores()
    path = Path(path)
    model, card = load_model(path)
    data = load_for_card(card, path, data_dir)
    spec = data.spec
    test = data.splits["test"]
    classes = card["classes"]
    predicted, confidence = predict(model, card["model"]["task"], test.images, len(classes))
    truth = test.labels
    matrix = np.zeros((len(classes), len(classes)), dtype=np.int64)
    np.add.at(matrix, (truth, predicted), 1)
    per_class = {
        label: float(matrix[index, index] / max(1, matrix[index].sum())) for index, label in enumerate(classes)
    }
    wrong = np.flatnonzero(predicted != truth)

    out_dir = Path(out_dir)
    stem = checkpoint_stem(path).name  # models/a.b.pdparams -> a.b (never a: that is another run)
    config = card.get("config") if isinstance(card.get("config"), dict) else {}
    name = str(config.get("name") or card["model"]["name"])
    accuracy = float((predicted == truth).mean())
    confusion_png = out_dir / f"{stem}.confusion.png"
    errors_png = out_dir / f"{stem}.errors.png"
    plot_confusion(matrix, classes, confusion_png, f"{name}: {accuracy:.2%} on {len(truth):,} test images")
    # The most confident mistakes first: they say the most about what the model gets wrong.
    shown = wrong[np.argsort(-np.nan_to_num(confidence[wrong], nan=0.0))][:gallery_size]
    between = "\n→" if max(len(label) for label in classes) > 3 else "→"  # "T-shirt/top": two lines
    captions = [
        f"{classes[truth[i]]}{between}{classes[predicted[i]]}"
        + ("" if np.isnan(confidence[i]) else f" {confidence[i]:.0%}")
        for i in shown
    ]
    plot_gallery(
        test.images[shown],
        captions,
        errors_png,
        f"{name}: {len(wrong)} of {len(truth):,} test images misread (true→predicted, confidence)",
    )
    return {
        "checkpoint": str(path),
        "model": card["model"]["name"],
        "dataset": spec.name,
        "test_images": int(len(truth)),
        "accuracy": accuracy,
        "errors": int(len(wrong)),
        "per_class_accuracy": per_class,
        "confusion_matrix": matrix.tolist(),
        "confusion_png": str(confusion_png),
        "errors_png": str(errors_png),
    }


def main(argv: list[str] | None = None) -> int:
    quiet_paddle_import_warnings()
    parser = argparse.ArgumentParser(
        prog="python -m handwriting.evaluate", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("checkpoint", help="a .pdparams written by train.py (its .json card must sit beside it)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    parser.add_argument("--data-dir", metavar="DIR", help="data root (default: as handwriting.data)")
    parser.add_argument(
        "--out-dir",
        default=DEFAULT_OUT_DIR,
        metavar="DIR",
        help="where the PNGs go; --out-dir models redraws the shipped ones (default: %(default)s)",
    )
    args = parser.parse_args(argv)

    def work() -> None:
        require_paddle("python -m handwriting.evaluate")
        report = evaluate_checkpoint(args.checkpoint, args.data_dir, args.out_dir)
        if args.json:
            print(json.dumps(report, indent=2))
            return
        print(f"{report['checkpoint']}: {report['model']} on {report['dataset']} test set")
        print(f"accuracy {report['accuracy']:.4%} ({counted(report['errors'], 'error')} in {report['test_images']:,})")
        print(
            "per class: " + "  ".join(f"{label}:{value:.2%}" for label, value in report["per_class_accuracy"].items())
        )
        print(f"confusion matrix: {report['confusion_png']}\nmisclassified:    {report['errors_png']}")

    return run_at_the_edge(work, interrupted="interrupted")


if __name__ == "__main__":
    sys.exit(main())
