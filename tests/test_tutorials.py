"""Every tutorial notebook runs, in its fast mode, on the shared data sets.

Each `tutorials/*.ipynb` is executed with nbclient in a `python3` kernel (the
interpreter running the tests), with working directory `tutorials/` and
`AUTOML_KERAS_FAST=1`, which the notebooks read to use small samples, one or
two trials and one epoch.
"""

import glob
import os
import re
import sys
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TUTORIALS = os.path.join(ROOT, "tutorials")
NOTEBOOKS = sorted(os.path.basename(p) for p in glob.glob(f"{TUTORIALS}/*.ipynb"))
DATA = os.path.join(ROOT, "..", "shared", "datasets")
#: A result each notebook prints: a test score, or how far an export is off.
RESULT = re.compile(r"test (accuracy|MAE|RMSE)\b.*?[-+]?\d*\.\d+")


def _outputs(notebook) -> str:
    texts = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream":
                texts.append(output["text"])
            elif "data" in output:
                texts.append(output["data"].get("text/plain", ""))
    return "\n".join(texts)


def test_there_is_a_notebook_per_task():
    expected = {
        "image_classification.ipynb",
        "structured_data_classification.ipynb",
        "structured_data_regression.ipynb",
        "text_classification.ipynb",
        "time_series_forecasting.ipynb",
        "multi_input_multi_output.ipynb",
        "export_and_serve.ipynb",
    }
    assert expected <= set(NOTEBOOKS)
    assert not glob.glob(f"{TUTORIALS}/*.py"), "tutorials are notebooks only"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_is_stored_without_outputs(name):
    import nbformat

    notebook = nbformat.read(os.path.join(TUTORIALS, name), as_version=4)
    nbformat.validate(notebook)
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert code[0].source.splitlines()[0] == "import os"
    assert 'FAST = os.environ.get("AUTOML_KERAS_FAST") == "1"' in code[0].source
    for cell in code:
        assert cell.outputs == [] and cell.execution_count is None, name


@pytest.mark.notebooks
@pytest.mark.skipif(not os.path.isdir(DATA), reason="../shared/datasets is not present")
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs(name, monkeypatch):
    import nbclient
    import nbformat

    monkeypatch.setenv("AUTOML_KERAS_FAST", "1")
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "3")
    # The kernel imports this checkout's package, whatever is installed.
    paths = [ROOT] + [
        p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p
    ]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(paths))
    notebook = nbformat.read(os.path.join(TUTORIALS, name), as_version=4)
    notebook.cells.append(
        nbformat.v4.new_code_cell(
            "import sys as _sys, automl_keras as _ak\n"
            "print('kernel:', _sys.prefix, _ak.__file__)"
        )
    )
    client = nbclient.NotebookClient(
        notebook,
        kernel_name="python3",
        timeout=600,
        resources={"metadata": {"path": TUTORIALS}},
    )
    started = time.monotonic()
    client.execute()
    seconds = time.monotonic() - started
    text = _outputs(notebook)
    print(f"{name}: {seconds:.1f} s")
    assert RESULT.search(text), text[-3000:]
    # The kernel ran in this environment and imported this checkout's package.
    _, prefix, package = text.strip().splitlines()[-1].split()
    assert prefix == sys.prefix
    assert os.path.dirname(os.path.dirname(package)) == ROOT, package
