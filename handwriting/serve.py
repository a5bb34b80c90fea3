"""A local web page: draw a character and watch the model read it, or upload a photo of one.

    python -m handwriting.serve                        # http://127.0.0.1:8000 with models/cnn
    python -m handwriting.serve --model runs/emnist-letters.pdparams --port 8001
    python -m handwriting.serve --host 0.0.0.0         # open it to your phone on the same network

**Drawing** runs in the browser: the page frames your strokes as the model's training data was
framed and runs the model's ONNX export with onnxruntime-web (WebAssembly), from files this server
serves itself — no CDN, nothing leaves the machine, the answer updates as you draw. **Uploads**
(a file, or the phone's camera) are read by the server with exactly ``infer.py``'s preprocessing
and backend, and answered as JSON with the 28x28 the model saw.

Why the standard library's ``http.server`` and not Flask, FastAPI or Gradio: the server has four
routes and one form of upload; each of those would be a new dependency (Gradio, the AI Studio
favourite, adds ~240 MB and pins Pillow below 13) for what 200 lines do, and these lines show how
uploads are made safe: a size cap read from Content-Length before any body is read, the type
checked by the file's first bytes (not its name or the browser's say-so), decoding in memory
(nothing written to disk), at most ``MAX_WORKING`` pictures read at once (others get 503 at once),
and every failure one JSON object ``{"error": "..."}`` with a 4xx status.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import json
import sys
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from handwriting.errors import UserError, run_at_the_edge

WEB = Path(__file__).resolve().parent / "web"
ORT_WEB = "vendor/onnxruntime-web"
MAX_UPLOAD = 10_000_000  # bytes: a 12-megapixel phone photo is 3-6 MB
MAX_WORKING = 2  # uploads being read at once (one per core here); more wait for nothing, they get 503
REQUEST_TIMEOUT = 20  # seconds a client may take to send its request
TOPK = 3

# The file types Pillow reads that people upload, by the bytes they start with.
MAGIC = {
    b"\x89PNG\r\n\x1a\n": "PNG",
    b"\xff\xd8\xff": "JPEG",
    b"GIF87a": "GIF",
    b"GIF89a": "GIF",
    b"BM": "BMP",
    b"II*\x00": "TIFF",
    b"MM\x00*": "TIFF",
}

# What the server sends, by URL path: (file under web/, content type). Nothing else is served.
STATIC = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/app.js": ("app.js", "text/javascript; charset=utf-8"),
    "/style.css": ("style.css", "text/css; charset=utf-8"),
    f"/{ORT_WEB}/ort.wasm.min.js": (f"{ORT_WEB}/ort.wasm.min.js", "text/javascript; charset=utf-8"),
    f"/{ORT_WEB}/ort-wasm-simd-threaded.mjs": (
        f"{ORT_WEB}/ort-wasm-simd-threaded.mjs",
        "text/javascript; charset=utf-8",
    ),
    f"/{ORT_WEB}/ort-wasm-simd-threaded.wasm": (f"{ORT_WEB}/ort-wasm-simd-threaded.wasm", "application/wasm"),
}


def picture_type(head: bytes) -> str | None:
    """The picture type a file's first bytes announce (PNG, JPEG, GIF, BMP, TIFF, WebP), or None."""
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WebP"
    return next((kind for magic, kind in MAGIC.items() if head.startswith(magic)), None)


class App:
    """The model, its ONNX bytes for the browser, and how one upload is answered."""

    def __init__(self, model: str | None = None):
        from handwriting.backends import OnnxBackend, make_backend

        self.backend = make_backend("auto", model, device="cpu")
        self.onnx: bytes | None = None  # the in-browser model, when the checkpoint has a fresh ONNX export
        try:
            onnx_backend = self.backend if isinstance(self.backend, OnnxBackend) else OnnxBackend(self.backend.path)
            self.onnx = onnx_backend.path.read_bytes()
        except UserError as error:
            self.why_no_onnx = str(error)
        self.working = threading.BoundedSemaphore(MAX_WORKING)
        self.model_lock = threading.Lock()  # pictures are prepared side by side, the model reads one at a time
        self.files: dict[str, tuple[bytes, bytes]] = {}  # url -> (bytes, gzipped bytes), read once
        self.lock = threading.Lock()

    def card(self) -> dict:
        """What the page needs to know: the classes, the framing, and whether it can run the model."""
        return {
            "model": self.backend.path.name,
            "backend": self.backend.name,
            "classes": self.backend.classes,
            "framing": self.backend.framing,
            "has_confidence": self.backend.has_confidence,
            "in_browser": self.onnx is not None,
            "why_not_in_browser": None if self.onnx is not None else self.why_no_onnx,
            "max_upload": MAX_UPLOAD,
        }

    def static(self, url: str) -> tuple[bytes, bytes]:
        """A served file's bytes and their gzip, read and compressed once."""
        with self.lock:
            if url not in self.files:
                data = (WEB / STATIC[url][0]).read_bytes()
                self.files[url] = (data, gzip.compress(data, compresslevel=6, mtime=0))
            return self.files[url]

    def recognise(self, data: bytes) -> tuple[HTTPStatus, dict]:
        """An uploaded picture's bytes -> (status, JSON answer), as ``infer.py`` would read it."""
        import cv2
        import numpy as np

        from handwriting.recognise import prepare

        if picture_type(data[:16]) is None:
            return HTTPStatus.UNSUPPORTED_MEDIA_TYPE, {
                "error": "not a picture: send a PNG, JPEG, GIF, BMP, TIFF or WebP file"
            }
        if not self.working.acquire(blocking=False):
            return HTTPStatus.SERVICE_UNAVAILABLE, {"error": "busy reading other pictures; try again in a moment"}
        try:
            frame, _, error = prepare(data, self.backend.framing)
            if error is not None:
                return HTTPStatus.UNPROCESSABLE_ENTITY, {"error": error}
            with self.model_lock:  # a millisecond; not every backend may be called from two threads at once
                probabilities = self.backend.probabilities(frame[None])[0]
        finally:
            self.working.release()
        order = np.argsort(-probabilities, kind="stable")[:TOPK]
        top = [[self.backend.classes[i], round(float(probabilities[i]), 6)] for i in order]
        ok, png = cv2.imencode(".png", frame)
        return HTTPStatus.OK, {
            "label": top[0][0],
            "confidence": top[0][1] if self.backend.has_confidence else None,
            "topk": top,
            "frame": "data:image/png;base64," + base64.b64encode(png.tobytes()).decode(),  # the 28x28 it saw
        }


class Handler(BaseHTTPRequestHandler):
    """GET: the page, its scripts, the model; POST /api/recognise: a picture's bytes as the body."""

    app: App  # set on the class by ``serve``
    timeout = REQUEST_TIMEOUT
    server_version = "handwriting"
    sys_version = ""

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        path = self.path.split("?", 1)[0]
        if path == "/api/card":
            self._send_json(HTTPStatus.OK, self.app.card())
        elif path == "/model.onnx" and self.app.onnx is not None:
            self._send(HTTPStatus.OK, self.app.onnx, "application/octet-stream")
        elif path in STATIC:
            data, packed = self.app.static(path)
            gzipped = "gzip" in self.headers.get("Accept-Encoding", "")
            self._send(HTTPStatus.OK, packed if gzipped else data, STATIC[path][1], gzipped)
        else:
            self._send_json(HTTPStatus.NOT_FOUND, {"error": f"nothing at {path}"})

    def do_POST(self) -> None:  # noqa: N802
        if self.path.split("?", 1)[0] != "/api/recognise":
            self._send_json(HTTPStatus.NOT_FOUND, {"error": "POST a picture to /api/recognise"})
            return
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            self._send_json(HTTPStatus.LENGTH_REQUIRED, {"error": "send the picture as the body, with its length"})
            return
        if int(length) > MAX_UPLOAD:
            self.close_connection = True  # the body is not read
            self._send_json(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                {"error": f"the picture is {int(length):,} bytes; the limit is {MAX_UPLOAD:,} (shrink it first)"},
            )
            return
        if int(length) == 0:
            self._send_json(HTTPStatus.BAD_REQUEST, {"error": "empty upload: choose a picture first"})
            return
        try:
            data = self.rfile.read(int(length))
        except OSError:  # the client went away or was too slow (REQUEST_TIMEOUT)
            self.close_connection = True
            return
        if len(data) != int(length):
            self._send_json(HTTPStatus.BAD_REQUEST, {"error": "the upload ended early; send it again"})
            return
        status, answer = self.app.recognise(data)
        self._send_json(status, answer)

    def _send_json(self, status: HTTPStatus, answer: dict) -> None:
        self._send(status, json.dumps(answer).encode(), "application/json")

    def _send(self, status: HTTPStatus, body: bytes, content_type: str, gzipped: bool = False) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Content-Type-Options", "nosniff")  # a browser takes each file as what we say it is
        self.send_header("Cache-Control", "no-store")  # a retrained model shows at the next reload
        if gzipped:
            self.send_header("Content-Encoding", "gzip")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args) -> None:  # noqa: A002 (http.server's name)
        if self.server.verbose:  # type: ignore[attr-defined]
            super().log_message(format, *args)


def make_server(model: str | None = None, host: str = "127.0.0.1", port: int = 8000, verbose: bool = False):
    """The server, bound and ready (``serve_forever`` runs it); port 0 picks a free one."""
    app = App(model)
    handler = type("BoundHandler", (Handler,), {"app": app})
    try:
        server = ThreadingHTTPServer((host, port), handler)
    except OSError as error:
        raise UserError(f"cannot listen on {host}:{port} ({error.strerror}); try another --port") from None
    server.daemon_threads = True
    server.verbose = verbose  # type: ignore[attr-defined]
    return server


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m handwriting.serve", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--model",
        metavar="PATH",
        help="a train.py checkpoint or its export (default: models/cnn.pdparams, run from models/cnn.onnx)",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on; 0.0.0.0 opens it to your network "
                        "(default: 127.0.0.1, this machine only)")  # fmt: skip
    parser.add_argument("--port", type=int, default=8000, help="port to listen on; 0 picks a free one (default: 8000)")
    parser.add_argument("--verbose", action="store_true", help="log every request (default: only errors)")
    args = parser.parse_args(argv)
    if not 0 <= args.port <= 65535:
        parser.error(f"--port must be 0-65535, got {args.port}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_arguments(argv)

    def work() -> None:
        server = make_server(args.model, args.host, args.port, args.verbose)
        host, port = server.server_address[:2]
        app = server.RequestHandlerClass.app  # type: ignore[attr-defined]
        shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
        print(f"reading with {app.backend.path} ({app.backend.name}) on http://{shown}:{port}/  (Ctrl+C stops)")
        if app.onnx is None:
            print(f"drawings are read by the server: {app.why_no_onnx}", file=sys.stderr)
        try:
            server.serve_forever()
        finally:
            server.server_close()

    return run_at_the_edge(work, interrupted="stopped")


if __name__ == "__main__":
    sys.exit(main())
