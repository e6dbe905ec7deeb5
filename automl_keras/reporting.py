"""What a search shows: progress lines, the leaderboard, a summary and a plot."""

from __future__ import annotations

import numpy as np
import pandas as pd

from automl_keras.blocks.cells import describe_genotype
from automl_keras.search.progress import (  # noqa: F401 - part of this API
    SearchProgress,
    last_line,
    peak_rss_mb,
)


def leaderboard(tuner) -> pd.DataFrame:
    """All trials of a search as a DataFrame, best first."""
    rows = []
    proxy_scores = getattr(tuner.oracle, "proxy_scores", {})
    for trial_id, trial in tuner.oracle.trials.items():
        info = tuner.trial_info(trial_id)
        row = {
            "trial_id": trial_id,
            "status": "INFEASIBLE" if "infeasible" in info else str(trial.status),
            "score": trial.score,
            "best_epoch": info.get("best_epoch"),
            "epochs": info.get("epochs"),
            "fit_seconds": info.get("fit_seconds"),
            "num_params": info.get("num_params"),
            "parent_trial": info.get("parent") or np.nan,
            "operations": len(info.get("operations", [])) or np.nan,
            "ended_at": info.get("ended_at"),
            "peak_rss_mb": info.get("peak_rss_mb"),
        }
        index = info.get("best_index")
        for key, values in info.get("history", {}).items():
            if key.startswith("val_") and index is not None and index < len(values):
                row[key] = values[index]
        for name, value in info.get("objectives", {}).items():
            row.setdefault(name, value)
        if "fold_scores" in info:
            row["fold_scores"] = info["fold_scores"]
        for key in ("planned_epochs", "flops", "median_stopped", "stopped_for_refit"):
            if key in info:
                row[key] = info[key]
        if proxy_scores:
            row["zero_cost_score"] = proxy_scores.get(trial_id, np.nan)
        row.update(trial.hyperparameters.values)
        if trial.message:
            row["message"] = last_line(trial.message)
        rows.append(row)
    frame = pd.DataFrame(rows)
    ascending = tuner.oracle.objective.direction == "min"
    if len(frame):
        frame = frame.sort_values("score", ascending=ascending, na_position="last")
    frame = frame.reset_index(drop=True)
    if proxy_scores:
        frame.attrs["zero_cost_spearman"] = proxy_rank_correlation(frame, ascending)
    return frame


def proxy_rank_correlation(board: pd.DataFrame, minimise: bool) -> float:
    """Spearman correlation of zero-cost scores with the trained trials' quality.

    +1: the proxy ranked the completed trials exactly as training did; 0: no
    relation; NaN with fewer than three scored, completed trials.
    """
    from scipy.stats import spearmanr

    done = board[(board["status"] == "COMPLETED") & board["zero_cost_score"].notna()]
    done = done[np.isfinite(done["zero_cost_score"].astype(float))]
    if len(done) < 3:
        return float("nan")
    quality = -done["score"] if minimise else done["score"]
    return float(spearmanr(done["zero_cost_score"], quality).statistic)


def with_one_shot(board: pd.DataFrame, trials: dict, one_shot: dict | None):
    """The leaderboard with the supernet's loss of the one-shot stage's trials.

    The first trial that trained each scored architecture gets its
    `supernet_loss`; `board.attrs["supernet_spearman"]` is the rank
    correlation of those losses with the trials' own scores (3 or more).
    """
    if not one_shot:
        return board
    board = board.copy()
    losses = {}
    for child in one_shot["children"]:
        for trial_id in sorted(trials):
            values = trials[trial_id].hyperparameters.values
            if trial_id not in losses and all(
                values.get(k) == v for k, v in child["values"].items()
            ):
                losses[trial_id] = child["supernet_loss"]
                break
    board["supernet_loss"] = board["trial_id"].map(losses)
    scored = board[(board["status"] == "COMPLETED") & board["supernet_loss"].notna()]
    scored = scored[np.isfinite(scored["score"].astype(float))]
    if len(scored) >= 3:
        from scipy.stats import spearmanr

        board.attrs["supernet_spearman"] = float(
            spearmanr(scored["supernet_loss"], scored["score"]).statistic
        )
    board.attrs["supernet_trained"] = len(scored)
    return board


def one_shot_lines(estimator, board: pd.DataFrame) -> list[str]:
    """The summary's account of a one-shot stage (empty without one)."""
    one_shot = getattr(estimator, "one_shot_", None)
    if not one_shot:
        return []
    history = one_shot["history"]
    if not one_shot["children"]:
        return [
            f"One-shot search ({one_shot['method']}): too little time for a "
            "supernet; the search started from the default cell."
        ]
    entropy = ", ".join(f"{h['entropy']:.2f}" for h in history)
    lines = [
        f"One-shot search ({one_shot['method']}): {len(history)} supernet epochs "
        f"in {one_shot['seconds']:.1f} s; mean entropy of the edges' operation "
        f"distribution by epoch: {entropy}.",
        "Derived cell (retrained from scratch as the first trial):",
        *(f"  {line}" for line in describe_genotype(one_shot["values"])),
    ]
    spearman = board.attrs.get("supernet_spearman")
    trained = board.attrs.get("supernet_trained", 0)
    if spearman is not None:
        lines.append(
            f"Supernet loss vs standalone score of {trained} architectures "
            f"(Spearman): {spearman:.2f}."
        )
    else:
        lines.append(
            f"{trained} of the {len(one_shot['children'])} architectures the "
            "supernet scored were trained alone: too few for a rank correlation."
        )
    return lines


def summary(estimator) -> str:
    """A text summary of a fitted estimator's search."""
    board = estimator.leaderboard_
    baselines = board[board["status"] == "BASELINE"]
    board = board[board["status"] != "BASELINE"]
    completed = board[board["status"] == "COMPLETED"]
    failed = board[board["status"].isin(["FAILED", "INVALID", "INFEASIBLE"])]
    best = completed.iloc[0] if len(completed) else None
    lines = [
        f"{type(estimator).__name__}: {len(board)} trials "
        f"({len(completed)} completed, {len(failed)} failed) in "
        f"{estimator.fit_seconds_:.1f} s; tuner={estimator.tuner!r}, "
        f"objective={estimator.objective!r}.",
    ]
    if best is not None:
        lines.append(
            f"Best trial {best['trial_id']}: score {best['score']:.4f} after "
            f"{int(best['epochs'])} epochs, "
            f"{int(best['num_params'] or 0):,} parameters."
        )
    for _, row in baselines.iterrows():
        lines.append(f"Baseline {row['trial_id']}: score {row['score']:.4f}.")
    lines.append(
        "The exported model was refit on training + validation data."
        if estimator.refit_
        else "The exported model is the best trial's own (no refit)."
    )
    if getattr(estimator, "ensemble_", None):
        lines.append(
            f"It averages the best {len(estimator.ensemble_)} trials: "
            f"{', '.join(estimator.ensemble_)}."
        )
    spearman = board.attrs.get("zero_cost_spearman")
    if spearman is not None:
        lines.append(
            f"Zero-cost proxy vs trained score (Spearman): {spearman:.2f} over the "
            "completed trials it scored."
        )
    lines.extend(one_shot_lines(estimator, estimator.leaderboard_))
    lines.append("Best hyperparameters:")
    for name, value in estimator.best_hyperparameters_.values.items():
        lines.append(f"  {name}: {value}")
    for _, row in failed.iterrows():
        lines.append(
            f"Trial {row['trial_id']} {row['status']}: {row.get('message', '')}"
        )
    return "\n".join(lines)


def plot_search(estimator, ax=None):
    """Scores over time and the best so far (needs matplotlib).

    Returns:
        The matplotlib Figure.
    """
    try:
        import matplotlib.pyplot as plt
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError(
            "plot_search needs matplotlib: pip install 'automl_keras[plot]'."
        ) from None
    board = estimator.leaderboard_
    board = board[board["status"] == "COMPLETED"].sort_values("ended_at")
    if ax is None:
        figure, ax = plt.subplots(figsize=(6, 4))
    else:
        figure = ax.figure
    minimise = estimator._search_direction == "min"
    best = board["score"].cummin() if minimise else board["score"].cummax()
    ax.scatter(board["ended_at"], board["score"], label="trial", color="tab:blue")
    ax.step(board["ended_at"], best, where="post", label="best so far", color="tab:red")
    ax.set_xlabel("seconds since the search started")
    ax.set_ylabel(estimator._objective_name)
    ax.legend()
    ax.set_title(f"{type(estimator).__name__} search")
    return figure
