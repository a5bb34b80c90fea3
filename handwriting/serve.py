"""A local web page: draw a character and watch the model read it, or upload a photo of one or of a number.

    python -m handwriting.serve                        # http://127.0.0.1:8000 with models/cnn
    python -m handwriting.serve --model runs/letters.pdparams --port 8001
    python -m handwriting.serve --host 0.0.0.0         # open it to your phone on the same network

**Drawing** runs in the browser: the page frames your strokes as the model's training data was
framed and runs the model's ONNX export with onnxruntime-web (WebAssembly), from files this server
serves itself — no CDN, nothing leaves the machine, the answer updates as you draw. **Uploads**
(a file, or the phone's camera) are read by the server with exactly ``infer.py``'s preprocessing
and backend, and answered as JSON with the 28x28 the model saw; a photo of several characters (a
postcode, an amount) is read as all of them, as ``infer.py`` reads it.

Why the standard library's ``http.server`` and not Flask, FastAPI or Gradio: the server has four
routes and one form of upload; each of those would be a new dependency (Gradio, the AI Studio
favourite, adds ~240 MB and pins Pillow below 13) for what 200 lines do, and these lines show how
uploads are made safe: a size cap read from Content-Length before any body is read, the type
checked by the file's first bytes (not its name or the browser's say-so), decoding in memory
(nothing written to disk), at most ``MAX_WORKING`` pictures in memory and being read at once and
``MAX_CONNECTIONS`` connections open (others get 503 at once), a deadline for every request however
slowly it trickles in, and every failure one JSON object ``{"error": "..."}``.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import gzip
import json
import os
import socket
import sys
import threading
import time
import traceback
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from handwriting.errors import UserError, interrupt_on_sigterm, run_at_the_edge
from handwriting.runtime import available_cores, quiet_paddle_import_warnings

WEB = Path(__file__).resolve().parent / "web"
ORT_WEB = "vendor/onnxruntime-web"
MAX_UPLOAD = 10_000_000  # bytes: a 12-megapixel phone photo is 3-6 MB
MAX_WORKING = available_cores()  # uploads read at once (one per core); one more gets 503 at once, no queue
MAX_CONNECTIONS = 32  # connections open at once (each a thread); one more gets 503 and is closed
# How long a connection may take, however it trickles: its request line and headers, then a body or
# an answer at no less than MIN_RATE (a 10 MB photo: 210 s; onnxruntime-web, gzipped: 84 s).
HEADER_SECONDS = 10
MIN_RATE = 50_000  # bytes a second (400 kbit/s)
DRAIN_SECONDS = 2  # after refusing an upload unread, how long its body is read and dropped
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


def _onnx_beside(model: str | os.PathLike) -> Path:
    """What to look up the browser's ONNX model by: the checkpoint (its fresh ONNX export is
    found beside it), also when the server runs another export of it (``--model X.npz``)."""
    path = Path(model)
    if path.suffix in (".npz", ".paddle"):
        checkpoint = path.with_suffix(".pdparams")
        return checkpoint if checkpoint.is_file() else path.with_suffix(".onnx")
    return path


class App:
    """The model, its ONNX bytes for the browser, and how one upload is answered."""

    def __init__(self, model: str | None = None):
        from handwriting.backends import DEFAULT_CHECKPOINT, OnnxBackend, make_backend

        self.backend = make_backend("auto", model, device="cpu")
        self.onnx: bytes | None = None  # the in-browser model, when the model has a fresh ONNX export
        self.why_no_onnx = ""  # why not, for the server's console (with paths)
        try:
            onnx = (
                self.backend
                if isinstance(self.backend, OnnxBackend)
                else OnnxBackend(_onnx_beside(model or DEFAULT_CHECKPOINT))
            )
            self.onnx = onnx.path.read_bytes()
        except UserError as error:
            self.why_no_onnx = str(error)
        self.working = threading.BoundedSemaphore(MAX_WORKING)
        # Pictures are prepared and their characters found side by side; the model reads one batch at a time.
        self.reader = TakingTurns(self.backend)
        self.files: dict[str, tuple[bytes, bytes]] = {}  # url -> (bytes, gzipped bytes), read once
        self.lock = threading.Lock()

    def card(self) -> dict:
        """What the page needs to know: the classes, the framing, and whether it can run the model.
        (No paths: the page may be open on another machine.)"""
        from handwriting.preprocess.marks import WIDER_THAN_TALL
        from handwriting.recognise import READS_SEVERAL

        return {
            "model": self.backend.path.name,
            "backend": self.backend.name,
            "classes": self.backend.classes,
            "framing": self.backend.framing,
            "has_confidence": self.backend.has_confidence,
            # whether a drawing may hold several characters, and how wide one mark may be before the
            # server is asked whether it does (its width over its height, as preprocess.marks measures it)
            "reads_several": self.backend.framing in READS_SEVERAL,
            "wider_than_tall": WIDER_THAN_TALL,
            "in_browser": self.onnx is not None,
            "why_not_in_browser": None
            if self.onnx is not None
            else "the model has no ONNX export made from its current weights (python -m handwriting.export)",
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
        """An uploaded picture's bytes -> (status, JSON answer), as ``infer.py`` would read it: a
        picture of several characters (a postcode, an amount) is read as all of them, its answer's
        ``label`` their text and ``characters`` each one with the 28x28 it became. The caller holds
        one of the ``working`` slots."""
        from handwriting.recognise import prepare_reading, read_prepared

        if picture_type(data[:16]) is None:
            return HTTPStatus.UNSUPPORTED_MEDIA_TYPE, {
                "error": "not a picture: send a PNG, JPEG, GIF, BMP, TIFF or WebP file"
            }
        prepared = prepare_reading(data, self.backend.framing)
        if prepared.error is not None:
            return HTTPStatus.UNPROCESSABLE_ENTITY, {"error": prepared.error}
        result = read_prepared(prepared, self.reader, TOPK)
        if result.error is not None:  # a bug reading its characters, said as infer.py says it
            return HTTPStatus.UNPROCESSABLE_ENTITY, {"error": result.error}
        answer = {"label": result.label, "confidence": result.confidence, "topk": [list(pair) for pair in result.topk]}
        if not result.characters:
            return HTTPStatus.OK, {**answer, "frame": _png_url(result.frame)}  # the 28x28 it saw
        # Several (as infer.py --json): the text, the least sure character's confidence, and each one.
        answer["characters"] = [
            {**character.as_json(), "topk": [list(pair) for pair in character.topk], "frame": _png_url(character.frame)}
            for character in result.characters
        ]
        return HTTPStatus.OK, answer


class TakingTurns:
    """A backend whose calls to the model take turns (not every backend may be called from two
    threads at once), while all else, finding and cutting characters, goes on side by side."""

    def __init__(self, backend):
        self.backend = backend
        self.lock = threading.Lock()

    def __getattr__(self, name: str):  # its classes, framing, has_confidence ... as they are
        return getattr(self.backend, name)

    def outputs(self, inputs):
        with self.lock:
            return self.backend.outputs(inputs)

    def probabilities(self, frames):
        with self.lock:
            return self.backend.probabilities(frames)


def _png_url(frame) -> str:
    """uint8 grey [28, 28] -> a data: URL of it as PNG, for the page to show."""
    import cv2

    ok, png = cv2.imencode(".png", frame)
    if not ok:
        raise RuntimeError("OpenCV could not encode a 28x28 frame as PNG")
    return "data:image/png;base64," + base64.b64encode(png.tobytes()).decode()


class Handler(BaseHTTPRequestHandler):
    """GET: the page, its scripts, the model; POST /api/recognise: a picture's bytes as the body.

    One request per connection (HTTP/1.0). A watchdog cuts the connection off when it overstays:
    ``HEADER_SECONDS`` for the request line and headers, then time for the body or the answer at
    ``MIN_RATE`` — however often a slow client sends a byte."""

    app: App  # set on the class by ``make_server``
    server_version = "handwriting"

    def version_string(self) -> str:  # "handwriting", not http.server's "handwriting Python/3.11"
        return self.server_version

    def setup(self) -> None:
        super().setup()
        self.connection.settimeout(HEADER_SECONDS)  # for each read and write; the watchdog bounds them all
        self.watchdog: threading.Timer | None = None
        self.answered = False
        self._deadline(HEADER_SECONDS)

    def _deadline(self, seconds: float) -> None:
        """Cut the connection off ``seconds`` from now (the earlier deadline is dropped)."""
        if self.watchdog is not None:
            self.watchdog.cancel()
        self.watchdog = threading.Timer(seconds, self._cut_off)
        self.watchdog.daemon = True
        self.watchdog.start()

    def finish(self) -> None:
        self.watchdog.cancel()
        with contextlib.suppress(OSError):  # the client may be gone already
            super().finish()

    def _cut_off(self) -> None:
        """Stop the reading: the handler then answers (408) what it has, each write itself bounded
        by the socket's timeout."""
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RD)

    def handle_one_request(self) -> None:
        """http.server's, with a last resort: a bug while answering is logged on the console and
        answered as JSON (500), not with a dropped connection."""
        try:
            super().handle_one_request()
        except Exception:  # noqa: BLE001 - a bug of ours: the console gets its traceback
            self.log_error("while answering %r:\n%s", getattr(self, "requestline", ""), traceback.format_exc())
            if not self.answered:
                self._send_json(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": "internal error; see the server's console"})
            self.close_connection = True

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        path = self.path.split("?", 1)[0]
        if path == "/api/card":
            self._send_json(HTTPStatus.OK, self.app.card())
        elif path == "/model.onnx" and self.app.onnx is not None:
            self._send(HTTPStatus.OK, self.app.onnx, "application/octet-stream")
        elif path in STATIC:
            data, packed = self.app.static(path)
            gzipped = "gzip" in self.headers.get("Accept-Encoding", "")
            self._send(
                HTTPStatus.OK,
                packed if gzipped else data,
                STATIC[path][1],
                gzipped,
                cache=path.startswith(f"/{ORT_WEB}/"),
            )
        elif path == "/api/recognise":
            self._send_json(HTTPStatus.METHOD_NOT_ALLOWED, {"error": "POST a picture to /api/recognise"})
        else:
            self._send_json(HTTPStatus.NOT_FOUND, {"error": f"nothing at {path}"})

    do_HEAD = do_GET  # noqa: N815 - the same headers, no body (``_send`` leaves it out)

    def do_POST(self) -> None:  # noqa: N802
        if self.path.split("?", 1)[0] != "/api/recognise":
            self._send_json(HTTPStatus.NOT_FOUND, {"error": "POST a picture to /api/recognise"})
            return
        length = self.headers.get("Content-Length", "").strip(" \t")
        if not (length.isascii() and length.isdigit() and len(length) <= 12):
            self._send_json(HTTPStatus.LENGTH_REQUIRED, {"error": "send the picture as the body, with its length"})
            return
        size = int(length)
        if size > MAX_UPLOAD:
            self._refuse_unread(
                size,
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                {"error": f"the picture is {size:,} bytes; the limit is {MAX_UPLOAD:,} (shrink it first)"},
            )
            return
        if self.headers.get("Content-Type", "").startswith("multipart/form-data"):
            self._refuse_unread(
                size,
                HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
                {"error": "send the picture's bytes as the body (curl --data-binary @photo.jpg URL), not a form"},
            )
            return
        if size == 0:
            self._send_json(HTTPStatus.BAD_REQUEST, {"error": "empty upload: choose a picture first"})
            return
        # A slot before the body is read: at most MAX_WORKING uploads are in memory at once.
        if not self.app.working.acquire(blocking=False):
            self._refuse_unread(
                size, HTTPStatus.SERVICE_UNAVAILABLE, {"error": "busy reading other pictures; try again in a moment"}
            )
            return
        try:
            self._deadline(HEADER_SECONDS + size / MIN_RATE)
            try:
                data = self.rfile.read(size)
            except OSError:  # a read timed out (the client stalled) or the client went away
                data = b""
            if len(data) != size:
                self._send_json(
                    HTTPStatus.REQUEST_TIMEOUT, {"error": "the upload ended early or took too long; send it again"}
                )
                return
            status, answer = self.app.recognise(data)
        finally:
            self.app.working.release()
        self._send_json(status, answer)

    def _refuse_unread(self, size: int, status: HTTPStatus, answer: dict) -> None:
        """Answer, then read what the client is still sending and drop it (briefly): closing with
        the body unread would reset the connection before the client read the answer."""
        self._send_json(status, answer)
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_WR)
            self.connection.settimeout(DRAIN_SECONDS)
            left, ends = min(size, 2 * MAX_UPLOAD), time.monotonic() + DRAIN_SECONDS
            while left > 0 and time.monotonic() < ends:
                chunk = self.rfile.read1(min(left, 65536))
                if not chunk:
                    break
                left -= len(chunk)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own refusals (a malformed request, an unknown method, headers too long), as
        the JSON every other answer is, not its HTML page."""
        self.close_connection = True
        self.request_version = "HTTP/1.0"  # an unreadable request line leaves HTTP/0.9: no status line at all
        self._send_json(HTTPStatus(code), {"error": message or HTTPStatus(code).phrase})

    def _send_json(self, status: HTTPStatus, answer: dict) -> None:
        self._send(status, json.dumps(answer).encode(), "application/json")

    def _send(
        self, status: HTTPStatus, body: bytes, content_type: str, gzipped: bool = False, cache: bool = False
    ) -> None:
        self.answered = True
        self._deadline(HEADER_SECONDS + len(body) / MIN_RATE)
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("X-Content-Type-Options", "nosniff")  # a browser takes each file as what we say it is
            # onnxruntime-web (3.7 MB) is kept a day; the page, the card and the model are asked for every
            # time (a model retrained and exported again shows once the server is restarted).
            self.send_header("Cache-Control", "max-age=86400" if cache else "no-store")
            if gzipped:
                self.send_header("Content-Encoding", "gzip")
            if content_type != "application/json":
                self.send_header("Vary", "Accept-Encoding")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
        except OSError:  # the client went away before the answer: nothing to tell it
            self.close_connection = True

    def log_message(self, format: str, *args) -> None:  # noqa: A002 (http.server's name)
        if self.server.verbose:  # type: ignore[attr-defined]
            super().log_message(format, *args)

    def log_error(self, format: str, *args) -> None:  # noqa: A002
        """The server's own errors reach the console always (http.server's refusals call send_error,
        which answers the client without logging)."""
        super().log_message(format, *args)


class Server(ThreadingHTTPServer):
    """http.server's threading server with a cap on connections: one more than ``MAX_CONNECTIONS``
    is answered 503 and closed at once, so a flood of connections cannot start a flood of threads."""

    daemon_threads = True
    request_queue_size = MAX_CONNECTIONS  # a burst waits in the kernel's queue rather than being refused

    def __init__(self, address, handler, verbose: bool = False):
        self.connections = threading.BoundedSemaphore(MAX_CONNECTIONS)
        self.verbose = verbose
        super().__init__(address, handler)

    def process_request(self, request, client_address) -> None:
        if not self.connections.acquire(blocking=False):
            body = json.dumps({"error": "too many connections; try again in a moment"}).encode()
            head = "HTTP/1.0 503 Service Unavailable\r\nContent-Type: application/json\r\n"
            head += f"Content-Length: {len(body)}\r\n\r\n"
            with contextlib.suppress(OSError):
                request.sendall(head.encode() + body)
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except Exception:  # the thread did not start: its slot is still ours to give back
            self.connections.release()
            raise

    def process_request_thread(self, request, client_address) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.connections.release()


def make_server(model: str | None = None, host: str = "127.0.0.1", port: int = 8000, verbose: bool = False) -> Server:
    """The server, bound and ready (``serve_forever`` runs it); port 0 picks a free one."""
    app = App(model)
    handler = type("BoundHandler", (Handler,), {"app": app})
    try:
        return Server((host, port), handler, verbose)
    except OSError as error:
        raise UserError(
            f"cannot listen on {host}:{port} ({error.strerror or error}); try another --port or --host"
        ) from None


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m handwriting.serve",
        description=__doc__.replace("``", "").replace("**", ""),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--model",
        metavar="PATH",
        help="a train.py checkpoint or its export (default: models/cnn.pdparams, run from models/cnn.onnx)",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on; 0.0.0.0 opens it to your network "
                        "(default: 127.0.0.1, this machine only)")  # fmt: skip
    parser.add_argument("--port", type=int, default=8000, help="port to listen on; 0 picks a free one (default: 8000)")
    parser.add_argument(
        "--verbose", action="store_true", help="log every request (default: only the server's own errors)"
    )
    args = parser.parse_args(argv)
    if not 0 <= args.port <= 65535:
        parser.error(f"--port must be 0-65535, got {args.port}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_arguments(argv)

    quiet_paddle_import_warnings()  # a model run by Paddle imports it

    def work() -> None:
        server = make_server(args.model, args.host, args.port, args.verbose)
        interrupt_on_sigterm()  # `kill` stops it as Ctrl+C does (after Paddle's import, if the model needed it)
        host, port = server.server_address[:2]
        app = server.RequestHandlerClass.app  # type: ignore[attr-defined]
        shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
        model = os.path.relpath(app.backend.path)  # as the user would type it, when under here
        model = app.backend.path if model.startswith("..") else model
        print(f"reading with {model} ({app.backend.name}) on http://{shown}:{port}/  (Ctrl+C stops)")
        if app.onnx is None:
            print(f"no ONNX model for the browser, so it sends drawings here: {app.why_no_onnx}", file=sys.stderr)
        try:
            server.serve_forever()
        finally:
            server.server_close()

    return run_at_the_edge(work, interrupted="stopped")


if __name__ == "__main__":
    sys.exit(main())
