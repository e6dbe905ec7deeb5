"""The one-shot stage of `tuner="darts"` and `tuner="enas"`.

Before the trials, a supernet of the graph's cells (`blocks.cells`) trains for
a share of the time limit (`search.supernet`) and yields a derived
architecture and a few children scored with its shared weights. The search
then trains them from scratch as its first trials (the derived one first),
refits and exports like any search, and keeps exploring around the best
(greedy) with the time left. The result is saved in the project folder, so a
search resumed after a kill skips the supernet (a supernet interrupted before
its end trains again).
"""

from __future__ import annotations

import json
import os
import time

import keras
import keras_tuner

from automl_keras.errors import ConfigurationError
from automl_keras.graph.graph import Graph
from automl_keras.search.supernet import OneShotResult, SupernetTrainer

ONE_SHOT_TUNERS = ("darts", "enas")
#: Share of the time left that the supernet trains for.
ONE_SHOT_SHARE = 0.4
#: Supernet epochs without a time limit (unless `epochs` is given).
ONE_SHOT_EPOCHS = 10
#: Least time left (seconds) for a supernet; with less the search starts from
#: the default cell (tracing the supernet's training step takes 15-20 s).
MIN_SECONDS = 60.0
#: The saved result, in the search's project folder.
RESULT_FILE = "one_shot.json"
#: Supernet weights' optimizer: SGD with momentum, as in DARTS (Adam's extra
#: update operations for hundreds of small variables double the time to
#: trace the training step).
SUPERNET_LEARNING_RATE = 0.05
#: Supernet batch size (at least this, at most a tenth of the training data).
SUPERNET_BATCH_SIZE = 64


def cell_blocks(graph: Graph) -> list:
    """The graph's blocks that build a supernet (`as_supernet`)."""
    return [b for b in graph.blocks if hasattr(b, "as_supernet")]


def check_one_shot_graph(graph: Graph, tuner: str) -> None:
    """Raises ConfigurationError when `tuner` is one-shot and `graph` has no cells."""
    if tuner in ONE_SHOT_TUNERS and not cell_blocks(graph):
        raise ConfigurationError(
            f"tuner={tuner!r} searches the cells of a CellBlock, and this graph has "
            f"none (blocks: {[type(b).__name__ for b in graph.blocks]}). "
            "The image, text and time-series tasks build one for these tuners; in "
            "an AutoModel, add ak.CellBlock() (or ak.TextCellBlock()) to the graph; "
            "for tables, choose another tuner."
        )


def supernet_graph(graph: Graph, method: str) -> Graph:
    """The graph with its cell blocks building the supernet of `method`."""
    return graph.with_blocks(
        lambda block: (
            block.as_supernet(method) if hasattr(block, "as_supernet") else block
        )
    )


def _loss(graph: Graph):
    heads = graph.heads
    if len(heads) == 1:
        return heads[0].loss
    return {h.name: h.loss for h in heads}


def run_one_shot(
    method: str,
    graph: Graph,
    data,
    config,
    budget,
    *,
    project_dir: str,
    overwrite: bool,
) -> tuple[OneShotResult, bool]:
    """The one-shot search's result, and whether it was loaded from a saved run.

    Args:
        method: "darts" or "enas".
        graph: The search's (analysed) graph.
        data: The search's `SearchData`.
        config: The search's `SearchConfig`.
        budget: The fit's `Budget`; the supernet trains for
            `ONE_SHOT_SHARE` of the time left.
        project_dir: The search's project folder (a saved result is reused
            unless `overwrite`).
        overwrite: Start afresh.
    """
    path = os.path.join(project_dir, RESULT_FILE)
    if not overwrite and os.path.exists(path):
        with open(path) as f:
            saved = OneShotResult.from_dict(json.load(f))
        if saved.method == method:
            return saved, True
    if budget.time_limit is not None and budget.remaining() < MIN_SECONDS:
        # Tracing the supernet alone would spend the time: the search starts
        # from the default cell.
        return OneShotResult(method=method, values={}), False
    started = time.monotonic()
    keras.utils.clear_session(free_memory=True)
    keras.utils.set_random_seed(config.seed)
    model = supernet_graph(graph, method).build(keras_tuner.HyperParameters())
    optimizer = keras.optimizers.SGD(
        SUPERNET_LEARNING_RATE, momentum=0.9, weight_decay=3e-4
    )
    model.compile(optimizer=optimizer, loss=_loss(graph))
    batch_size = min(
        max(config.batch_size, SUPERNET_BATCH_SIZE), max(8, data.num_train // 10)
    )
    seconds = None
    if budget.time_limit is not None:
        seconds = max(1.0, ONE_SHOT_SHARE * budget.remaining())
    trainer = SupernetTrainer(model, method, data, batch_size, config.seed)
    trainer.train(seconds, config.epochs or ONE_SHOT_EPOCHS)
    _, children = trainer.derive()
    result = OneShotResult(
        method=method,
        values=children[0]["values"],
        children=children,
        history=trainer.history,
        seconds=round(time.monotonic() - started, 2),
    )
    del model, trainer
    keras.utils.clear_session(free_memory=True)
    return result, False


def one_shot_message(result: OneShotResult) -> str:
    """A line for the search's progress output."""
    history = result.history
    if not result.children:
        return (
            f"One-shot search ({result.method}): under {MIN_SECONDS:.0f} s left, no "
            "supernet; the search starts from the default cell."
        )
    return (
        f"One-shot search ({result.method}): {len(history)} supernet epochs in "
        f"{result.seconds:.1f} s; {len(result.children)} architectures to train, "
        "the derived one first."
    )


def one_shot_stage(
    tuner: str, prepared, config, budget, *, project_dir: str, overwrite: bool
) -> OneShotResult | None:
    """The one-shot stage when `tuner` is "darts" or "enas", else None.

    Args:
        tuner: The tuner's name.
        prepared: The fit's prepared data (`graph` and `data`).
        config: The search's `SearchConfig`.
        budget: The fit's `Budget`.
        project_dir: The search's project folder.
        overwrite: Start afresh instead of reusing a saved result.

    Raises:
        ConfigurationError: When the graph has no cells to search.
    """
    if tuner not in ONE_SHOT_TUNERS:
        return None
    check_one_shot_graph(prepared.graph, tuner)
    result, _ = run_one_shot(
        tuner,
        prepared.graph,
        prepared.data,
        config,
        budget,
        project_dir=project_dir,
        overwrite=overwrite,
    )
    return result


def keep_result(result: OneShotResult | None, tuner) -> dict | None:
    """Saves the result in the tuner's project folder and reports it.

    Returns:
        The result as a dict (the estimator's `one_shot_`), or None.
    """
    if result is None:
        return None
    save_result(result, tuner.project_dir)
    tuner.progress.message(one_shot_message(result))
    return result.to_dict()


def save_result(result: OneShotResult, project_dir: str) -> None:
    """Writes the result into the project folder (for a resumed search)."""
    os.makedirs(project_dir, exist_ok=True)
    with open(os.path.join(project_dir, RESULT_FILE), "w") as f:
        json.dump(result.to_dict(), f)


def one_shot_trials(result: OneShotResult, first_trials: list) -> list:
    """The search's first trials: each child with the task's training recipe.

    Args:
        result: The one-shot result.
        first_trials: The task's first trials (the first one's values that
            are not cell operations carry over: optimizer, schedule...).
    """
    recipe = dict(first_trials[0]) if first_trials else {}
    return [{**recipe, **child["values"]} for child in result.children]


__all__ = [
    "ONE_SHOT_TUNERS",
    "OneShotResult",
    "check_one_shot_graph",
    "keep_result",
    "one_shot_message",
    "one_shot_stage",
    "one_shot_trials",
    "run_one_shot",
    "save_result",
    "supernet_graph",
]
