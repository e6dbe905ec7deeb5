"""Every tutorial runs, in its fast mode, on the shared data sets."""

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TUTORIALS = sorted(
    f for f in os.listdir(os.path.join(ROOT, "tutorials")) if f.endswith(".py")
)
DATA = os.path.join(ROOT, "..", "shared", "datasets")


@pytest.mark.skipif(not os.path.isdir(DATA), reason="../shared/datasets is not present")
@pytest.mark.parametrize("name", TUTORIALS)
def test_tutorial_runs(name):
    result = subprocess.run(
        [sys.executable, os.path.join(ROOT, "tutorials", name), "--fast"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "test accuracy" in result.stdout or "test MAE" in result.stdout
