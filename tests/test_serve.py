"""The web app's server (handwriting.serve): uploads read as infer.py reads files, and every bad
request answered by one JSON error, with nothing kept."""

from __future__ import annotations

import base64
import contextlib
import gzip
import http.client
import io
import json
import socket
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from handwriting import serve
from handwriting.backends import make_backend
from handwriting.preprocess.marks import WIDER_THAN_TALL
from handwriting.recognise import prepare

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "work"


@pytest.fixture(scope="module")
def server():
    server = serve.make_server(port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def request(server, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
    """-> (status, headers, body bytes)"""
    connection = http.client.HTTPConnection(*server.server_address[:2], timeout=30)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def post_picture(server, data: bytes):
    status, _, body = request(server, "POST", "/api/recognise", data)
    return status, json.loads(body)


def test_it_listens_on_this_machine_only_by_default(server):
    assert server.server_address[0] == "127.0.0.1"
    assert (serve.parse_arguments([]).host, serve.parse_arguments([]).port) == ("127.0.0.1", 8000)


def test_an_upload_is_read_as_infer_py_reads_the_file(server):
    backend = make_backend("auto")
    for name in ("example_0.png", "example_9.jpg", "example_4_sideways.jpg", "example_7_tablet.png"):
        data = (WORK / name).read_bytes()
        status, answer = post_picture(server, data)
        assert status == 200, answer
        frame, _, error = prepare(str(WORK / name), backend.framing)
        assert error is None
        expected = backend.probabilities(frame[None])[0]
        assert answer["label"] == name.split("_")[1][0] == backend.classes[int(expected.argmax())]
        assert answer["confidence"] == pytest.approx(float(expected.max()), abs=1e-5)
        assert [label for label, _ in answer["topk"]][0] == answer["label"] and len(answer["topk"]) == 3
        # the 28x28 it shows is the very frame infer.py gives the model
        png = base64.b64decode(answer["frame"].removeprefix("data:image/png;base64,"))
        shown = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_GRAYSCALE)
        np.testing.assert_array_equal(shown, frame)


def test_an_upload_of_a_number_is_read_whole_as_infer_py_reads_it(server):
    """A photo of a postcode gets its six digits, each with the 28x28 infer.py gives the model, not
    one confident digit."""
    from handwriting.recognise import recognise

    path = WORK / "number_205921.jpg"
    status, answer = post_picture(server, path.read_bytes())
    assert status == 200, answer
    [expected] = recognise([str(path)], make_backend("auto"), topk=serve.TOPK)
    assert answer["label"] == expected.label == "205921"
    assert answer["topk"] == expected.as_json()["topk"] == []  # as infer.py --json: each character has its own
    assert answer["confidence"] == pytest.approx(min(c.confidence for c in expected.characters), abs=1e-6)
    assert "frame" not in answer and len(answer["characters"]) == 6
    for character, read in zip(answer["characters"], expected.characters):
        assert (character["label"], character["line"]) == (read.label, read.line)
        assert character["confidence"] == pytest.approx(read.confidence, abs=1e-6)
        assert len(character["topk"]) == serve.TOPK and character["topk"][0][0] == read.label
        png = base64.b64decode(character["frame"].removeprefix("data:image/png;base64,"))
        np.testing.assert_array_equal(cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_GRAYSCALE), read.frame)


def test_the_model_reads_for_one_upload_at_a_time(monkeypatch):
    """Uploads are prepared and their characters cut side by side, but the model is called by one
    thread at a time (serve.TakingTurns): not every backend may be called from two at once."""
    app = serve.App()
    inside, most = [0], [0]
    model_outputs = app.backend.outputs

    def counted(inputs):
        inside[0] += 1
        most[0] = max(most[0], inside[0])
        time.sleep(0.01)  # long enough for another thread to come in, were it let
        inside[0] -= 1
        return model_outputs(inputs)

    monkeypatch.setattr(app.backend, "outputs", counted)
    data = (WORK / "number_205921.jpg").read_bytes()
    answers = []
    threads = [threading.Thread(target=lambda: answers.append(app.recognise(data))) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [answer["label"] for _, answer in answers] == ["205921"] * 3
    assert most[0] == 1


def test_the_card_tells_the_page_what_it_needs(server):
    status, headers, body = request(server, "GET", "/api/card")
    card = json.loads(body)
    assert status == 200 and headers["Content-Type"] == "application/json"
    assert card["classes"] == [str(digit) for digit in range(10)] and card["framing"] == "mnist"
    assert card["in_browser"] is True and card["max_upload"] == serve.MAX_UPLOAD
    assert card["reads_several"] is True and card["wider_than_tall"] == WIDER_THAN_TALL
    status, headers, body = request(server, "GET", "/model.onnx")
    assert status == 200 and body == (ROOT / "models" / "cnn.onnx").read_bytes()


def test_the_page_and_onnxruntime_web_come_from_the_server_itself(server):
    status, _, page = request(server, "GET", "/")
    assert status == 200
    text = page.decode()
    assert "http://" not in text and "https://" not in text  # no CDN
    for path in ("/app.js", "/style.css", "/vendor/onnxruntime-web/ort.wasm.min.js"):
        assert f'"{path}"' in text
    for path, (name, content_type) in serve.STATIC.items():
        status, headers, body = request(server, "GET", path, headers={"Accept-Encoding": "gzip"})
        assert status == 200 and headers["Content-Type"] == content_type
        assert gzip.decompress(body) == (serve.WEB / name).read_bytes()
    status, headers, body = request(server, "GET", "/vendor/onnxruntime-web/ort-wasm-simd-threaded.wasm")
    assert status == 200 and body[:4] == b"\0asm" and "Content-Encoding" not in headers


@pytest.mark.parametrize(
    "path", ["/../../etc/passwd", "/handwriting/serve.py", "/web/app.js", "/vendor/", "/models/cnn.pdparams"]
)
def test_nothing_but_the_listed_files_is_served(server, path):
    status, headers, body = request(server, "GET", path)
    assert status == 404 and json.loads(body) == {"error": f"nothing at {path}"}


def test_bad_uploads_get_one_json_error(server):
    status, answer = post_picture(server, b"#!/bin/sh\nrm -rf /\n")
    assert (status, answer) == (415, {"error": "not a picture: send a PNG, JPEG, GIF, BMP, TIFF or WebP file"})
    # a PNG's first bytes, then nothing a decoder can use: the picture's own error, in words
    status, answer = post_picture(server, b"\x89PNG\r\n\x1a\n" + b"\0" * 100)
    assert (status, answer) == (422, {"error": "not a picture Pillow can read (PNG, JPEG, BMP, GIF, WebP, TIFF, …)"})
    blank = io.BytesIO()
    Image.new("L", (64, 64), 255).save(blank, "PNG")
    status, answer = post_picture(server, blank.getvalue())
    assert (status, answer) == (422, {"error": "no handwriting found (the picture is one flat colour)"})
    status, _, body = request(server, "POST", "/api/recognise", b"")
    assert (status, json.loads(body)) == (400, {"error": "empty upload: choose a picture first"})
    status, _, body = request(server, "POST", "/api/elsewhere", b"x")
    assert status == 404 and "error" in json.loads(body)


def test_a_too_large_upload_is_refused_before_it_is_read(server):
    """The limit is read from Content-Length: the body is never read (nor kept)."""
    connection = http.client.HTTPConnection(*server.server_address[:2], timeout=30)
    try:
        connection.putrequest("POST", "/api/recognise")
        connection.putheader("Content-Length", str(serve.MAX_UPLOAD + 1))
        connection.endheaders()
        connection.send(b"\x89PNG\r\n\x1a\n")  # only the start of the promised body
        response = connection.getresponse()
        answer = json.loads(response.read())
    finally:
        connection.close()
    assert response.status == 413
    assert answer == {
        "error": f"the picture is {serve.MAX_UPLOAD + 1:,} bytes; the limit is {serve.MAX_UPLOAD:,} (shrink it first)"
    }


def test_a_picture_bomb_is_refused_in_words(server):
    """A small file that decodes to more pixels than infer.py accepts (64 MP) is refused, not decoded."""
    from handwriting.preprocess import MAX_PIXELS

    side = int(MAX_PIXELS**0.5) + 100
    bomb = io.BytesIO()
    Image.new("1", (side, side), 1).save(bomb, "PNG")  # a few kB, 64+ megapixels
    assert len(bomb.getvalue()) < serve.MAX_UPLOAD
    status, answer = post_picture(server, bomb.getvalue())
    assert status == 422 and "megapixel limit" in answer["error"]


def test_uploads_beyond_the_limit_at_once_are_told_to_wait(server):
    app = server.RequestHandlerClass.app
    taken = [app.working.acquire(blocking=False) for _ in range(serve.MAX_WORKING)]
    try:
        assert all(taken)
        status, answer = post_picture(server, (WORK / "example_0.png").read_bytes())
        assert (status, answer) == (503, {"error": "busy reading other pictures; try again in a moment"})
    finally:
        for _ in taken:
            app.working.release()
    status, answer = post_picture(server, (WORK / "example_0.png").read_bytes())
    assert status == 200 and answer["label"] == "0"


def test_picture_types_are_told_by_their_first_bytes():
    assert serve.picture_type(b"RIFF\0\0\0\0WEBPVP8 ") == "WebP"
    assert serve.picture_type((WORK / "example_9.jpg").read_bytes()[:16]) == "JPEG"
    assert serve.picture_type(b"<svg xmlns=") is None
    assert serve.picture_type(b"") is None


def test_a_model_without_an_onnx_export_reads_drawings_on_the_server(tmp_path):
    """Without an ONNX export the page sends drawings to the server; the card says why."""
    for name in ("mlp.pdparams", "mlp.json"):
        (tmp_path / name).write_bytes((ROOT / "models" / name).read_bytes())
    app = serve.App(str(tmp_path / "mlp.pdparams"))
    card = app.card()
    assert card["backend"] == "paddle" and card["in_browser"] is False
    assert card["why_not_in_browser"] == (
        "the model has no ONNX export made from its current weights (python -m handwriting.export)"
    )  # no server paths for the page: it may be open on another machine
    assert app.why_no_onnx.startswith(f"{tmp_path / 'mlp.onnx'}: no ONNX export of")  # the console's, in full
    status, answer = app.recognise((WORK / "example_3.png").read_bytes())
    assert status == 200 and answer["label"] == "3"


def test_a_port_in_use_is_one_line(server):
    from handwriting.errors import UserError

    with pytest.raises(UserError, match=r"cannot listen on 127\.0\.0\.1:\d+ .*; try another --port"):
        serve.make_server(port=server.server_address[1])


@pytest.mark.parametrize("length", ["\u00b2", "1" * 5000, "-5", "12abc", ""])
def test_a_length_that_is_not_a_plain_number_is_one_json_error(server, length):
    with socket.create_connection(server.server_address[:2], timeout=10) as connection:
        connection.sendall(f"POST /api/recognise HTTP/1.0\r\nContent-Length: {length}\r\n\r\n".encode())
        status, body = reply(connection)
    assert (status, json.loads(body)) == (411, {"error": "send the picture as the body, with its length"})


def test_wrong_ways_to_send_a_picture_say_the_right_way(server):
    status, _, body = request(server, "GET", "/api/recognise")
    assert (status, json.loads(body)) == (405, {"error": "POST a picture to /api/recognise"})
    form = (
        b"--x\r\nContent-Disposition: form-data; name=file; filename=a.png\r\n\r\n"
        + (WORK / "example_0.png").read_bytes()
    )
    status, _, body = request(
        server, "POST", "/api/recognise", form, {"Content-Type": "multipart/form-data; boundary=x"}
    )
    assert status == 415 and json.loads(body)["error"].startswith("send the picture's bytes as the body")


def test_a_stalled_upload_gets_a_408(monkeypatch):
    """A client that promises a body and stops sending is answered when its time is up, not dropped."""
    monkeypatch.setattr(serve, "HEADER_SECONDS", 1)
    server = serve.make_server(port=0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with socket.create_connection(server.server_address[:2], timeout=10) as connection:
            connection.sendall(b"POST /api/recognise HTTP/1.0\r\nContent-Length: 100\r\n\r\n\x89PNG")
            status, body = reply(connection)
        assert (status, json.loads(body)) == (408, {"error": "the upload ended early or took too long; send it again"})
    finally:
        server.shutdown()
        server.server_close()


def test_a_head_request_gets_the_headers_alone(server):
    status, headers, body = request(server, "HEAD", "/app.js")
    assert (status, body) == (200, b"") and headers["Content-Type"] == "text/javascript; charset=utf-8"
    assert int(headers["Content-Length"]) == len((serve.WEB / "app.js").read_bytes())


def test_a_too_large_upload_being_sent_still_gets_its_answer(server):
    """The body is drained, briefly, after the refusal: the client reads the 413, not a reset."""
    with socket.create_connection(server.server_address[:2], timeout=30) as connection:
        size = serve.MAX_UPLOAD + 1_000_000
        connection.sendall(f"POST /api/recognise HTTP/1.0\r\nContent-Length: {size}\r\n\r\n".encode())
        with contextlib.suppress(OSError):  # the server stops reading after DRAIN_SECONDS
            for _ in range(size // 65536 + 1):
                connection.sendall(b"\0" * 65536)
        status, body = reply(connection)
    assert status == 413 and json.loads(body)["error"].startswith(f"the picture is {size:,} bytes")


def test_a_bug_while_answering_is_a_json_500_and_the_server_goes_on(server, monkeypatch, capsys):
    app = server.RequestHandlerClass.app

    def broken(data):
        raise RuntimeError("a bug")

    monkeypatch.setattr(app, "recognise", broken)
    status, answer = post_picture(server, (WORK / "example_0.png").read_bytes())
    assert (status, answer) == (500, {"error": "internal error; see the server's console"})
    assert "RuntimeError: a bug" in capsys.readouterr().err  # the traceback, on the console
    monkeypatch.undo()
    assert post_picture(server, (WORK / "example_0.png").read_bytes())[0] == 200
    assert app.working._value == serve.MAX_WORKING  # the upload slot came back


@pytest.mark.parametrize(
    "request_line, status",
    [(b"GARBAGE\r\n\r\n", 400), (b"PUT /api/recognise HTTP/1.0\r\n\r\n", 501), (b"GET / HTTP/9.9\r\n\r\n", 505)],
)
def test_http_server_s_own_refusals_are_json_too(server, request_line, status):
    with socket.create_connection(server.server_address[:2], timeout=10) as connection:
        connection.sendall(request_line)
        got, body = reply(connection)
    assert got == status and set(json.loads(body)) == {"error"}


def reply(connection) -> tuple[int, bytes]:
    """Read a whole HTTP/1.0 answer from a raw socket -> (status, body)."""
    data = b""
    while chunk := connection.recv(65536):
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


def test_connections_beyond_the_cap_get_503_and_a_slow_request_is_cut_off(monkeypatch):
    """A flood of connections cannot start a flood of threads, and a request sent a byte at a time
    cannot hold one for ever: its headers have HEADER_SECONDS in all."""
    monkeypatch.setattr(serve, "MAX_CONNECTIONS", 2)
    monkeypatch.setattr(serve, "HEADER_SECONDS", 1.5)
    server = serve.make_server(port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        idle = [socket.create_connection(server.server_address[:2], timeout=10) for _ in range(2)]
        time.sleep(0.2)  # both accepted: each holds a connection slot
        with socket.create_connection(server.server_address[:2], timeout=10) as third:
            status, body = reply(third)
        assert (status, json.loads(body)) == (503, {"error": "too many connections; try again in a moment"})
        start = time.monotonic()
        for byte in b"POST /api/recognise HTTP/1.0\r\n":  # a byte every 0.1 s: each read is quick
            try:
                idle[0].sendall(bytes([byte]))
            except OSError:
                break
            time.sleep(0.1)
        idle[0].settimeout(5)
        with contextlib.suppress(OSError):
            while idle[0].recv(65536):
                pass
        assert time.monotonic() - start < 4  # cut off at 1.5 s, not when the trickle ends
        for connection in idle:
            connection.close()
        time.sleep(0.3)
        status, answer = post_picture(server, (WORK / "example_0.png").read_bytes())  # the slots came back
        assert status == 200 and answer["label"] == "0"
    finally:
        server.shutdown()
        server.server_close()


def test_the_vendored_onnxruntime_web_is_the_one_its_readme_names():
    """The three files the page runs are unchanged copies of onnxruntime-web's (their SHA-256s are
    in the folder's README, with how to update them)."""
    import hashlib
    import re

    folder = serve.WEB / serve.ORT_WEB
    listed = dict(re.findall(r"\| `([^`]+)` \| [^|]+ \| `([0-9a-f]{64})` \|", (folder / "README.md").read_text()))
    served = {Path(name).name for name, _ in serve.STATIC.values() if name.startswith(serve.ORT_WEB)}
    assert set(listed) == served
    for name, digest in listed.items():
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == digest, name
