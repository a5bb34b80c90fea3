"""The web app in a real browser: Debian's Chromium driven by Playwright draws on the page's canvas
with mouse events, reads what the page says, and uploads a picture.

Skipped, with the reason, where Chromium or Playwright is absent (.ci/run installs both). The page's
screenshot goes to pytest's temporary folder; to refresh the README's, run

    HANDWRITING_SCREENSHOT=docs/web-app.png python -m pytest -q tests/test_browser.py
"""

from __future__ import annotations

import base64
import math
import os
import shutil
import threading
from pathlib import Path

import pytest

from handwriting import serve

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"  # Debian's; never a browser Playwright downloads
# As root in a container, with no network: no sandbox, no GPU, and none of Chromium's own calls home.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (requirements-dev.txt)")
if not shutil.which(CHROMIUM):
    pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)", allow_module_level=True)


@pytest.fixture(scope="module")
def address():
    server = serve.make_server(port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield "http://{}:{}/".format(*server.server_address[:2])
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def app():
    return serve.App()


@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, address):
    page = browser.new_page(viewport={"width": 1000, "height": 620})
    problems = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("requestfailed", lambda request: problems.append(f"{request.url}: {request.failure}"))
    # Every file the page loads is there (an upload's refusal, a 4xx of /api/recognise, is the page's to show).
    page.on(
        "response",
        lambda response: (
            response.status >= 400
            and not response.url.endswith("/api/recognise")
            and problems.append(f"{response.url}: {response.status}")
        ),
    )
    page.goto(address)
    page.wait_for_selector("body[data-ready]", timeout=60_000)  # "yes", or "failed" with the reason shown
    assert page.evaluate("document.body.dataset.ready") == "yes", page.inner_text("#about")
    yield page
    assert problems == []  # no script errors, no missing files
    page.close()


def draw(page, *strokes) -> None:
    """Each stroke a list of (x, y) on the 280x280 pad, drawn with the mouse button held down."""
    box = page.locator("#pad").bounding_box()
    for stroke in strokes:
        page.mouse.move(box["x"] + stroke[0][0], box["y"] + stroke[0][1])
        page.mouse.down()
        for x, y in stroke[1:]:
            page.mouse.move(box["x"] + x, box["y"] + y, steps=6)
        page.mouse.up()


def answer(page, list_id: str) -> list[str]:
    """The labels the page lists, best first: for a drawing, once the page has read every point
    drawn (not an answer for a stroke still being drawn); for an upload, once it lists some."""
    if list_id == "drawn-top":
        page.wait_for_function("document.getElementById('pad').dataset.readPoints == pointCount()")
    page.wait_for_selector(f"#{list_id} li[data-label]")
    return page.eval_on_selector_all(f"#{list_id} li[data-label]", "items => items.map(item => item.dataset.label)")


def circle(centre_x, centre_y, radius_x, radius_y, points=24):
    return [
        (
            centre_x + radius_x * math.sin(2 * math.pi * i / points),
            centre_y - radius_y * math.cos(2 * math.pi * i / points),
        )
        for i in range(points + 1)
    ]


@pytest.mark.parametrize(
    "digit, strokes",
    [
        ("7", [[(70, 60), (210, 60), (120, 240)]]),
        ("1", [[(150, 40), (145, 240)]]),
        ("0", [circle(140, 140, 60, 95)]),
        ("4", [[(170, 40), (70, 170), (220, 170)], [(170, 40), (170, 250)]]),
    ],
)
def test_a_drawn_digit_is_read_in_the_browser_as_the_server_reads_it(page, app, digit, strokes):
    draw(page, *strokes)
    labels = answer(page, "drawn-top")
    assert labels[0] == digit and len(labels) == 3
    assert "in your browser" in page.inner_text("#speed")
    # The same drawing as a PNG, read by the server as infer.py reads files: the same answer.
    data_url = page.evaluate("document.getElementById('pad').toDataURL('image/png')")
    status, reply = app.recognise(base64.b64decode(data_url.split(",", 1)[1]))
    assert status == 200 and reply["label"] == digit
    # What the model saw: 28x28, the ink's centre of mass near pixel (14, 14) as in MNIST.
    grey = page.evaluate(
        "Array.from(document.getElementById('seen').getContext('2d').getImageData(0, 0, 28, 28).data)"
        ".filter((_, i) => i % 4 === 0)"
    )
    total = sum(grey)
    rows = sum(value * (i // 28) for i, value in enumerate(grey)) / total
    columns = sum(value * (i % 28) for i, value in enumerate(grey)) / total
    assert abs(rows - 14) <= 1 and abs(columns - 14) <= 1


def test_digits_drawn_touching_are_read_whole_when_the_pen_is_lifted(page):
    """Two 0s drawn touching are one group of strokes, wider than one character: read as one in
    the browser while drawn, then asked of the server, whose "00" replaces it."""
    draw(page, circle(95, 140, 45, 80), circle(185, 140, 45, 80))
    page.wait_for_function("document.getElementById('pad').dataset.checkedPoints == pointCount()")
    assert answer(page, "drawn-top") == ["00"]
    assert "by the server" in page.inner_text("#speed")


@pytest.mark.parametrize(
    "digit, strokes",
    [
        ("4", [[(170, 40), (70, 170), (220, 170)], [(170, 40), (170, 250)]]),
        ("5", [[(105, 60), (100, 140), (160, 130), (185, 190), (150, 240), (90, 230)], [(105, 60), (190, 60)]]),
    ],
)
def test_a_character_of_several_strokes_is_read_in_the_browser_alone(page, digit, strokes):
    draw(page, *strokes)
    assert answer(page, "drawn-top")[0] == digit
    assert page.evaluate("mayBeSeveral()") is False  # so the server is not asked when the pen is lifted
    assert "in your browser" in page.inner_text("#speed")


def test_a_number_drawn_on_the_pad_is_read_whole_by_the_server(page):
    """Two characters apart on the pad: not read as one in the browser, but by the server, as
    infer.py reads a picture, when the pen is lifted; each one's 28x28 shown; Clear empties it all."""
    draw(page, [(60, 60), (55, 220)])
    assert answer(page, "drawn-top")[0] == "1"  # one character: read in the browser
    assert "in your browser" in page.inner_text("#speed")
    draw(page, [(130, 60), (230, 60), (170, 220)])
    assert answer(page, "drawn-top") == ["17"]
    captions = page.eval_on_selector_all("#drawn-characters figcaption", "items => items.map(item => item.textContent)")
    assert captions == ["1", "7"]
    assert "by the server" in page.inner_text("#speed")  # not the browser's time for the 1 alone
    assert page.is_hidden("#seen")  # each character's 28x28 is in the strip instead
    page.click("#clear")
    assert page.eval_on_selector_all("#drawn-characters figure", "items => items.length") == 0
    assert page.inner_text("#drawn-top") == "draw something"


@pytest.mark.parametrize("framing", ["mnist", "emnist", "fill"])
def test_the_page_frames_a_drawing_as_infer_py_frames_its_picture(page, framing):
    """The page draws the strokes again into 28x28 (MNIST's box and centre of mass, EMNIST's square,
    Fashion-MNIST's fill); infer.py's framing of the same canvas as a PNG gives nearly the same frame."""
    import numpy as np

    from handwriting.recognise import prepare

    draw(page, [(70, 60), (210, 60), (120, 240)], [(100, 150), (180, 150)])  # a crossed 7
    data_url = page.evaluate("document.getElementById('pad').toDataURL('image/png')")
    in_browser = np.array(page.evaluate(f"Array.from(frameStrokes('{framing}'))"), np.uint8).reshape(28, 28)
    by_infer, _, error = prepare(base64.b64decode(data_url.split(",", 1)[1]), framing)
    assert error is None

    def ink_box(frame):
        rows, columns = np.nonzero(frame.max(axis=1))[0], np.nonzero(frame.max(axis=0))[0]
        return np.array([rows[0], rows[-1], columns[0], columns[-1]])

    assert np.abs(ink_box(in_browser) - ink_box(by_infer)).max() <= 1
    assert np.corrcoef(in_browser.ravel().astype(float), by_infer.ravel().astype(float))[0, 1] > 0.9


def test_a_dot_is_not_read_as_a_character(page):
    draw(page, [(140, 140)])
    page.wait_for_function("document.getElementById('pad').dataset.readPoints == pointCount()")
    assert page.eval_on_selector_all("#drawn-top li[data-label]", "items => items.length") == 0
    assert page.inner_text("#drawn-top") == "keep drawing"


def test_clear_empties_the_pad_and_the_answer(page):
    draw(page, [(70, 60), (210, 60), (120, 240)])
    answer(page, "drawn-top")
    page.click("#clear")
    assert page.eval_on_selector_all("#drawn-top li[data-label]", "items => items.length") == 0
    assert page.inner_text("#drawn-top") == "draw something" and page.inner_text("#speed") == ""
    blank = page.evaluate(
        "Array.from(document.getElementById('pad').getContext('2d').getImageData(0, 0, 280, 280).data)"
        ".some((value, i) => i % 4 !== 3 && value !== 0)"
    )
    assert blank is False


def test_an_uploaded_picture_is_read_by_the_server(page, tmp_path):
    draw(page, [(70, 60), (210, 60), (120, 240)])
    page.set_input_files("#upload", str(ROOT / "work" / "example_0.png"))
    assert answer(page, "upload-top")[0] == "0"
    assert page.get_attribute("#upload-seen", "src").startswith("data:image/png;base64,")
    screenshot = Path(os.environ.get("HANDWRITING_SCREENSHOT") or tmp_path / "web-app.png")
    page.screenshot(path=str(screenshot))
    assert screenshot.stat().st_size > 10_000


def test_an_uploaded_number_is_read_whole_with_each_character_shown(page):
    page.set_input_files("#upload", str(ROOT / "work" / "number_205921.jpg"))
    assert answer(page, "upload-top") == ["205921"]
    captions = page.eval_on_selector_all(
        "#upload-characters figcaption", "items => items.map(item => item.textContent)"
    )
    assert captions == list("205921")
    assert page.get_attribute("#upload-seen", "src") is None  # no single 28x28 for a number
    # the next picture, of one digit, clears the strip
    page.set_input_files("#upload", str(ROOT / "work" / "example_0.png"))
    page.wait_for_selector("#upload-seen[src]")
    assert answer(page, "upload-top")[0] == "0"
    assert page.eval_on_selector_all("#upload-characters figure", "items => items.length") == 0


def test_a_file_that_is_not_a_picture_gets_its_error_on_the_page(page):
    page.set_input_files("#upload", str(ROOT / "work" / "example_3.png"))
    assert answer(page, "upload-top")[0] == "3"
    page.set_input_files("#upload", str(ROOT / "README.md"))
    page.wait_for_function("document.getElementById('upload-error').textContent !== ''")
    assert page.inner_text("#upload-error") == "README.md: not a picture: send a PNG, JPEG, GIF, BMP, TIFF or WebP file"
    assert page.get_attribute("#upload-seen", "src") is None  # not the 3's 28x28 beside the error
    assert page.eval_on_selector_all("#upload-top li", "items => items.length") == 0
