"""The synthetic picture makers stay outside the product: ``handwriting`` never imports them."""

import ast
from pathlib import Path

import numpy as np

from synthetic.pen import draw, on_paper, to_uint8

ROOT = Path(__file__).resolve().parent.parent


def imported_modules(source: Path) -> set[str]:
    """Every module a Python file imports, at the top or inside a function ("a.b" for ``from a.b import c``)."""
    names = set()
    for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"), filename=str(source))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def test_no_product_module_imports_the_synthetic_package():
    files = sorted((ROOT / "handwriting").rglob("*.py")) + [ROOT / "train.py", ROOT / "infer.py"]
    assert len(files) > 20  # the walk found the package
    offenders = {}
    for path in files:
        found = sorted(name for name in imported_modules(path) if name.split(".")[0] == "synthetic")
        if found:
            offenders[str(path.relative_to(ROOT))] = found
    assert offenders == {}


def test_the_import_check_sees_imports_inside_functions(tmp_path):
    source = tmp_path / "lazy.py"
    source.write_text("import os\n\ndef make():\n    from synthetic.redraw import redraw\n    import synthetic.pen\n")
    assert imported_modules(source) == {"os", "synthetic.redraw", "synthetic.pen"}


def test_to_uint8_rounds_and_clips_to_pixels():
    pixels = to_uint8(np.array([-3.0, 0.4, 0.6, 254.5, 255.4, 300.0]))
    assert pixels.dtype == np.uint8 and pixels.tolist() == [0, 0, 1, 254, 255, 255]  # 254.5 rounds to even


def test_a_drawn_digit_is_dark_ink_on_light_paper():
    picture = to_uint8(on_paper(draw(7, 60, 5, np.random.default_rng(0))))
    assert picture.dtype == np.uint8 and picture.ndim == 2
    assert picture.max() == 245 and picture.min() <= 40  # the paper's and the ink's default greys
