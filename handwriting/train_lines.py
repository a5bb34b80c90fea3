"""Train the line reader: a small convolutional network that reads a whole line of digits, with CTC.

    python -m synthetic.lines ~/.cache/paddle/dataset/lines          # the lines it learns from
    python -m handwriting.train_lines ~/.cache/paddle/dataset/lines  # -> runs/lines.{pdparams,json,log.jsonl,onnx}

Cutting a row of digits apart and reading each piece goes wrong where digits touch, where one is
broken in two, and where a 1 leans on its neighbour. The line reader is never told where one digit
ends: it looks along the line (``LineReader``) and says, for every 4 px column, which digit it sees
there or "none" (the blank). Connectionist temporal classification (CTC, ``paddle.nn.CTCLoss``) trains
it from the line's text alone, summing over every way the columns could spell it. ``handwriting.lines``
reads people's lines with its ONNX export, without Paddle, and checks it against the digits it cut.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
BATCH = 64  # lines a step
DROPOUT = 0.2  # before the last layer: the reader sees each digit in several columns, and should not lean on one
WEIGHT_DECAY = 1e-4  # AdamW's: light, as 300,000 lines are plenty for 115,000 weights


def packed(lines: list[np.ndarray], texts: list[str]) -> bytes:
    """Lines (uint8 [LINE_HEIGHT, w] each) and their texts -> the bytes of an ``.npz`` holding ``pixels``
    (every line's pixels, one line after another), ``widths`` (each line's) and ``labels`` (each
    line's text), which ``unpacked`` reads back."""
    buffer = io.BytesIO()
    np.savez(
        buffer,
        pixels=np.concatenate([line.ravel() for line in lines]),
        widths=np.array([line.shape[1] for line in lines], np.int32),
        labels=np.array(texts),
    )
    return buffer.getvalue()


def unpacked(path: str | Path) -> tuple[list[np.ndarray], list[str]]:
    """An ``.npz`` written by ``packed`` -> its lines and texts (read with ``allow_pickle=False``:
    nothing in the file runs)."""
    from handwriting.preprocess.line import LINE_HEIGHT

    with np.load(path, allow_pickle=False) as archive:
        pixels, widths, labels = archive["pixels"], archive["widths"], archive["labels"]
    ends = np.cumsum(widths.astype(np.int64) * LINE_HEIGHT)
    if (
        pixels.dtype != np.uint8
        or len(labels) != len(widths)
        or not len(ends)
        or ends[-1] != pixels.size
        or not all(str(label).isdigit() and str(label).isascii() for label in labels)
    ):
        raise ValueError(f"{path}: not a file of lines (python -m synthetic.lines writes them)")
    lines = [pixels[end - width * LINE_HEIGHT : end].reshape(LINE_HEIGHT, width) for end, width in zip(ends, widths)]
    return lines, [str(label) for label in labels]


def build_reader(classes: int = 10, width: float = 0.5):
    """The reader, a Paddle layer: float32 [N, 1, 32, W] in [-1, 1] -> logits [N, classes + 1, W / 4]
    (class 0 is the blank). ``width`` scales every layer's channels."""
    import paddle.nn as nn

    def block(inputs: int, outputs: int, kernel=3, padding=1) -> list:
        return [
            nn.Conv2D(inputs, outputs, kernel, padding=padding, bias_attr=False),
            nn.BatchNorm2D(outputs),
            nn.ReLU(),
        ]

    small, middle, wide, widest = (round(channels * width) for channels in (32, 64, 96, 128))

    class LineReader(nn.Layer):
        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(
                *block(1, small),
                nn.MaxPool2D(2),  # [N, small, 16, W/2]
                *block(small, middle),
                nn.MaxPool2D(2),  # [N, middle, 8, W/4]
                *block(middle, wide),
                *block(wide, wide),
                nn.MaxPool2D((2, 1)),  # [N, wide, 4, W/4]
                *block(wide, widest),
                nn.MaxPool2D((2, 1)),  # [N, widest, 2, W/4]
                *block(widest, widest, (2, 3), (0, 1)),  # [N, widest, 1, W/4]: the column's own features
                *block(widest, widest, (1, 5), (0, 2)),  # ... and two columns either side: about a digit
                nn.Dropout(DROPOUT),
                nn.Conv2D(widest, classes + 1, 1),  # [N, classes + 1, 1, W/4]
            )

        def forward(self, lines):
            return self.features(lines)[:, :, 0, :]  # [N, classes + 1, W/4]

    return LineReader()


def batches(lines: list[np.ndarray], texts: list[str], size: int, rng: np.random.Generator | None):
    """Lines of similar width batched together (the padding is paper), in a random order unless
    ``rng`` is None -> (indices, float32 [n, 1, 32, W] in [-1, 1], int32 labels [n, L] (digit + 1),
    columns [n], label lengths [n])."""
    from handwriting.lines import STRIDE
    from handwriting.preprocess import normalize

    order = np.argsort([line.shape[1] for line in lines], kind="stable")
    groups = [order[start : start + size] for start in range(0, len(order), size)]
    if rng is not None:
        rng.shuffle(groups)
    for group in groups:
        width = -(-max(lines[index].shape[1] for index in group) // STRIDE) * STRIDE
        images = np.zeros((len(group), 1, lines[group[0]].shape[0], width), np.uint8)
        labels = np.zeros((len(group), max(len(texts[index]) for index in group)), np.int32)
        for row, index in enumerate(group):
            images[row, 0, :, : lines[index].shape[1]] = lines[index]
            labels[row, : len(texts[index])] = [int(digit) + 1 for digit in texts[index]]
        columns = np.array([lines[index].shape[1] // STRIDE for index in group], np.int64)
        yield group, normalize(images), labels, columns, np.array([len(texts[index]) for index in group], np.int64)


def train(model, lines, texts, optimizer, schedule, rng, log_every: int = 500) -> float:
    """One epoch -> the mean CTC loss."""
    import paddle
    import paddle.nn.functional as F
    from tqdm import tqdm

    ctc = paddle.nn.CTCLoss(blank=0)
    model.train()
    total, count = 0.0, 0
    steps = -(-len(lines) // BATCH)
    for _, images, labels, columns, lengths in tqdm(batches(lines, texts, BATCH, rng), total=steps, mininterval=30):
        logits = model(paddle.to_tensor(images))  # [N, C, T]
        log_probabilities = F.log_softmax(logits.transpose([2, 0, 1]), axis=-1)  # [T, N, C], as CTCLoss wants
        loss = ctc(log_probabilities, paddle.to_tensor(labels), paddle.to_tensor(columns), paddle.to_tensor(lengths))
        loss.backward()
        optimizer.step()
        optimizer.clear_grad()
        schedule.step()
        total, count = total + float(loss), count + 1
    return total / max(1, count)


def test(model, lines, texts) -> float:
    """-> the share of lines read exactly (best path)."""
    import paddle

    from handwriting.lines import best_path

    model.eval()
    right = 0
    with paddle.no_grad():
        for group, images, _, columns, _ in batches(lines, texts, 256, None):
            logits = model(paddle.to_tensor(images)).numpy()
            for index, row, length in zip(group, logits, columns):
                right += best_path(row[:, :length].T)[0] == texts[index]
    return right / len(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", help="folder with lines_train.npz and lines_test.npz (python -m synthetic.lines)")
    parser.add_argument("--epochs", type=int, default=3, help="(default: 3)")
    parser.add_argument("--width", type=float, default=0.5, help="channels, as a share of 32-64-96-128 (default: 0.5)")
    parser.add_argument("--lr", type=float, default=3e-3, help="the one-cycle schedule's peak (default: 3e-3)")
    parser.add_argument("--seed", type=int, default=0, help="(default: 0)")
    parser.add_argument(
        "--init",
        metavar="PDPARAMS",
        help="start from these weights (a reader of the same --width), to train it further",
    )
    parser.add_argument("--out", default="runs", help="folder for the reader's files (default: runs)")
    parser.add_argument("--name", default="lines", help="their name (default: lines)")
    parser.add_argument("--overwrite", action="store_true", help="replace files of that name")
    args = parser.parse_args(argv)
    if args.epochs < 1 or not 0 < args.width <= 4 or not args.lr > 0:
        parser.error("--epochs must be at least 1, --width within (0, 4] and --lr above 0")

    try:  # the reader is saved with its ONNX export: know now, not after the training, that it can be
        import onnx  # noqa: F401
        import paddle2onnx  # noqa: F401
    except ImportError:
        sys.exit(
            "error: the line reader is saved with its ONNX export, which needs the export tools: "
            "pip install -r requirements-export.txt"
        )
    import paddle

    from handwriting.lines import CLASSES, STRIDE

    out = Path(args.out)
    names = {kind: out / f"{args.name}.{kind}" for kind in ("pdparams", "json", "log.jsonl", "onnx")}
    if not args.overwrite and any(path.exists() for path in names.values()):
        sys.exit(f"error: {out / args.name}.* exists; choose another --name or --out, or pass --overwrite")
    try:
        train_lines, train_texts = unpacked(Path(args.data) / "lines_train.npz")
        test_lines, test_texts = unpacked(Path(args.data) / "lines_test.npz")
    except (OSError, ValueError, KeyError) as error:
        sys.exit(f"error: cannot read the lines ({error}); make them with python -m synthetic.lines {args.data}")
    paddle.seed(args.seed)
    rng = np.random.default_rng(args.seed)
    model = build_reader(len(CLASSES), args.width)
    if args.init:
        from handwriting.errors import UserError
        from handwriting.weights import read_state

        try:
            state = read_state(args.init, "line reader")
            missing, unexpected = model.set_state_dict({name: paddle.to_tensor(value) for name, value in state.items()})
        except UserError as error:
            sys.exit(f"error: {error}")
        if missing or unexpected:
            sys.exit(f"error: {args.init} is not a line reader of width {args.width}")
    steps = args.epochs * -(-len(train_lines) // BATCH)
    schedule = paddle.optimizer.lr.OneCycleLR(max_learning_rate=args.lr, total_steps=steps)
    optimizer = paddle.optimizer.AdamW(learning_rate=schedule, parameters=model.parameters(), weight_decay=WEIGHT_DECAY)
    log, started = [], time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        loss = train(model, train_lines, train_texts, optimizer, schedule, rng)
        exact = test(model, test_lines, test_texts)
        log.append(
            {
                "epoch": epoch,
                "loss": round(loss, 5),
                "test_exact": exact,
                "seconds": round(time.perf_counter() - started),
            }
        )
        print(f"epoch {epoch}: train loss {loss:.4f}, test lines read exactly {exact:.2%}", flush=True)
    card = {
        "model": "line-reader",
        "classes": list(CLASSES),
        "width": args.width,
        "stride": STRIDE,
        "input": "uint8 line from handwriting.preprocess.line.line_image, normalised to [-1, 1]; [N, 1, 32, W]",
        "output": "logits [N, classes + 1, W / 4]; class 0 is the blank",
        "trained": {**vars(args), "lines": len(train_lines), "test_lines": len(test_lines)},
        "test_exact": exact,
    }
    saved(model, card, log, names)
    return 0


def saved(model, card: dict, log: list[dict], names: dict[str, Path]) -> None:
    """The trained reader's weights, its ONNX export (which ``handwriting.lines`` runs), its log and
    its card, each written to a temporary file and renamed."""
    from handwriting.atomic import write_bytes
    from handwriting.export import onnx_bytes
    from handwriting.preprocess.line import LINE_HEIGHT
    from handwriting.weights import write_state

    model.eval()
    exported = onnx_bytes(model, card, input_shape=(None, 1, LINE_HEIGHT, None))  # first: it is what may fail
    write_state(names["pdparams"], model.state_dict())
    write_bytes(names["onnx"], exported)
    write_bytes(names["log.jsonl"], "".join(json.dumps(entry) + "\n" for entry in log).encode())
    write_bytes(names["json"], (json.dumps(card, indent=1) + "\n").encode())
    print(f"wrote {', '.join(str(path) for path in names.values())}")


if __name__ == "__main__":
    sys.exit(main())
