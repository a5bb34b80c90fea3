"""main.ipynb, the AI Studio notebook, run top to bottom by nbclient with its SMOKE settings, so that
it never rots: every cell must run, and the cells that show results must show them."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

nbclient = pytest.importorskip("nbclient", reason="running the notebook needs nbclient: python install.py --dev")
nbformat = pytest.importorskip("nbformat", reason="running the notebook needs nbformat: python install.py --dev")

from tests.conftest import REAL_ROOT  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def test_the_notebook_runs_top_to_bottom_with_smoke_settings(real_mnist, tmp_path, monkeypatch):
    monkeypatch.setenv("HANDWRITING_DATA", str(REAL_ROOT))  # the kernel reads the real MNIST the user fetched
    monkeypatch.setenv("TQDM_DISABLE", "1")
    notebook = nbformat.read(ROOT / "main.ipynb", as_version=4)
    parameters = [cell for cell in notebook.cells if "parameters" in cell.metadata.get("tags", [])]
    assert len(parameters) == 1 and "SMOKE = False" in parameters[0].source
    parameters[0].source = f"SMOKE = True\nOUT = {str(tmp_path / 'runs')!r}"

    nbclient.NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": ROOT}}
    ).execute()

    outputs = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.get("outputs", [])]
    assert not [output for output in outputs if output.output_type == "error"]
    text = "".join(output.get("text", "") for output in outputs if output.output_type == "stream")
    assert "train (60000, 28, 28) uint8, test (10000, 28, 28)" in text
    assert "test accuracy" in text
    # The shell cells do not stop the notebook when a tool fails: what they print must show that none did.
    assert text.count("work/example_0.png: ") == 2  # read by the checkpoint, then by its NumPy export
    assert "error:" not in text and "Traceback" not in text
    images = [output.data["image/png"] for output in outputs if "image/png" in output.get("data", {})]
    assert len(images) >= 5  # the digits, curves, confusion matrix, the pictures read, the back-query
    assert all(base64.b64decode(image).startswith(b"\x89PNG") for image in images)
    card = json.loads((tmp_path / "runs" / "notebook.json").read_text())
    assert card["config"]["recipe"] == "fast" and card["config"]["max_steps"] == 20
    assert (tmp_path / "runs" / "notebook.npz").exists()  # the export cell wrote its file
