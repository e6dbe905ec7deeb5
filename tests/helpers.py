"""Tiny synthetic data sets and small helpers shared by the tests."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

#: Settings that keep every search to a few seconds.
FAST_FIT = {"epochs": 1, "verbose": 0}


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def image_data(n: int = 60, size: int = 8, channels: int = 3, *, seed: int = 0):
    """uint8 images and string labels that depend on the mean brightness."""
    images = rng(seed).integers(0, 256, size=(n, size, size, channels), dtype="uint8")
    brightness = images.reshape(n, -1).mean(axis=1)
    labels = np.where(brightness > np.median(brightness), "bright", "dark")
    return images, labels


def structured_frame(n: int = 80, *, seed: int = 0) -> pd.DataFrame:
    """A table with NaN numbers, missing categories and a string target."""
    r = rng(seed)
    age = r.normal(40, 10, size=n).round(1)
    income = r.lognormal(10, 0.5, size=n)
    city = r.choice(["paris", "rome", "oslo", None], size=n).astype(object)
    colour = pd.Series(r.choice(["red", "blue"], size=n), dtype="str")
    age[::9] = np.nan
    city[::7] = None
    colour[::11] = pd.NA
    label = np.where(np.nan_to_num(age, nan=40.0) > 40, "old", "young")
    return pd.DataFrame(
        {
            "age": age,
            "income": income,
            "city": city,
            "colour": colour,
            "label": label,
        }
    )


def regression_frame(n: int = 80, *, seed: int = 0):
    r = rng(seed)
    frame = pd.DataFrame(
        {
            "x1": r.normal(size=n),
            "x2": r.normal(size=n),
            "kind": r.choice(["a", "b", "c"], size=n),
        }
    )
    y = 3.0 * frame["x1"].to_numpy() - frame["x2"].to_numpy() + 10.0
    return frame, y


def trial_dirs(directory, project_name: str) -> list:
    """The trial folders a search created under `directory/project_name`."""
    project = os.path.join(os.fspath(directory), project_name)
    if not os.path.isdir(project):
        return []
    return sorted(e for e in os.listdir(project) if e.startswith("trial_"))


def hp_columns(leaderboard: pd.DataFrame) -> list:
    """The hyperparameter columns of a leaderboard."""
    fixed = {
        "trial_id",
        "status",
        "score",
        "best_epoch",
        "epochs",
        "fit_seconds",
        "num_params",
        "message",
        "parent_trial",
        "operations",
        "ended_at",
        "peak_rss_mb",
    }
    return [
        c for c in leaderboard.columns if c not in fixed and not c.startswith("val_")
    ]


def fit_fails_early(estimator, exception, match, *args, **kwargs):
    """Asserts `fit` raises before any trial starts and leaves no fitted state."""
    import pytest

    directory = estimator.directory
    kwargs = {**FAST_FIT, **kwargs}
    with pytest.raises(exception, match=match) as info:
        estimator.fit(*args, **kwargs)
    if directory is not None:
        assert trial_dirs(directory, estimator.project_name) == []
    assert not hasattr(estimator, "best_model_")
    return info


POSITIVE = ["good", "great", "lovely", "superb", "fun", "charming"]
NEGATIVE = ["bad", "awful", "boring", "dull", "weak", "tedious"]
FILLER = ["the", "film", "was", "a", "story", "plot", "really", "quite", "and"]


def text_data(n: int = 80, *, seed: int = 0):
    """Short sentences and "pos"/"neg" labels given by their sentiment words."""
    r = rng(seed)
    labels = np.where(np.arange(n) % 2 == 0, "pos", "neg")
    texts = []
    for label in labels:
        words = list(r.choice(FILLER, size=r.integers(3, 9)))
        cue = POSITIVE if label == "pos" else NEGATIVE
        words += list(r.choice(cue, size=2))
        r.shuffle(words)
        texts.append(" ".join(words).capitalize() + r.choice([".", "!", ""]))
    return np.array(texts, dtype=object), labels


def series_frame(n: int = 120, *, seed: int = 0) -> pd.DataFrame:
    """Daily rows: a seasonal target, a second target and a covariate with gaps."""
    r = rng(seed)
    t = np.arange(n)
    covariate = np.cos(t / 5.0) + r.normal(0, 0.05, n)
    covariate[::13] = np.nan
    return pd.DataFrame(
        {
            "date": pd.date_range("2020-01-01", periods=n, freq="D").astype(str),
            "temp": 10 + 5 * np.sin(t / 6.0) + r.normal(0, 0.2, n),
            "rain": 2 + np.cos(t / 4.0),
            "wind": covariate,
        }
    )


def run_fresh(script: str, folder) -> None:
    """Runs `script` (with `sys.argv[1] = folder`) in a fresh Python process.

    The script must not need automl_keras; it asserts so itself when it ends
    with `assert "automl_keras" not in sys.modules`.
    """
    import subprocess
    import sys
    import textwrap

    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script), os.fspath(folder)],
        capture_output=True,
        text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        timeout=240,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result
