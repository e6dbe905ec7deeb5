"""What a running search shows and measures: progress lines, memory."""

from __future__ import annotations

import ctypes
import functools
import logging

logger = logging.getLogger("automl_keras")


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 60:02d}:{seconds % 60:02d}"


class SearchProgress:
    """One line per finished trial (rich), silent with `verbose=0`.

    Details (hyperparameters, failure tracebacks) go to the `automl_keras`
    logger at INFO/WARNING level.

    Args:
        verbose: 0 silent; 1 or more prints a line per trial.
        objective: The objective's name.
        max_trials: The trial limit, or None.
        time_limit: The time limit in seconds, or None.
    """

    def __init__(self, verbose: int, objective: str, max_trials=None, time_limit=None):
        self.verbose = verbose
        self.objective = objective
        self.max_trials = max_trials
        self.time_limit = time_limit
        self._console = None

    def _print(self, text: str) -> None:
        if not self.verbose:
            return
        if self._console is None:
            from rich.console import Console

            self._console = Console(highlight=False)
        self._console.print(text)

    def trial_ended(self, trial, info: dict, best_score, elapsed: float) -> None:
        count = f"trial {trial.trial_id}"
        if self.max_trials:
            count += f"/{self.max_trials}"
        clock = _clock(elapsed)
        if self.time_limit:
            clock += f" of {_clock(self.time_limit)}"
        status = str(trial.status)
        if status == "COMPLETED" and trial.score is not None:
            best = "" if best_score is None else f" (best {best_score:.4f})"
            parent = f" · morph of {info['parent']}" if info.get("parent") else ""
            self._print(
                f"[bold]{count}[/bold] {self.objective}={trial.score:.4f}{best} · "
                f"{info.get('epochs', '?')} epochs · "
                f"{info.get('fit_seconds', 0):.1f} s · "
                f"{info.get('num_params', 0):,} params{parent} · {clock}"
            )
            logger.info(
                "trial %s hyperparameters: %s",
                trial.trial_id,
                trial.hyperparameters.values,
            )
        else:
            reason = last_line(trial.message) or status
            if "infeasible" in info:
                # A broken constraint, not an error: its reason, no traceback.
                status, reason = "INFEASIBLE", info["infeasible"]
            self._print(f"[bold red]{count} {status}[/bold red]: {reason} · {clock}")
            # One line at INFO; the traceback only at DEBUG, so that nothing
            # reaches the terminal unless logging is set up to show it.
            logger.info("trial %s %s: %s", trial.trial_id, status, reason)
            logger.debug(
                "trial %s %s:\n%s", trial.trial_id, status, trial.message or ""
            )

    def message(self, text: str) -> None:
        self._print(text)
        logger.info(text)


def peak_rss_mb() -> float | None:
    """Peak resident memory of this process so far, in MiB (None if unknown)."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not on every platform
        return None
    import sys

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def last_line(message) -> str:
    """The last non-empty line of a (traceback) message."""
    lines = (message or "").strip().splitlines()
    return lines[-1] if lines else ""


@functools.cache
def _libc():
    """glibc, or None where the C library is another one."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.malloc_trim  # noqa: B018 - raises AttributeError elsewhere
    except (OSError, AttributeError):
        return None
    return libc


def release_freed_memory() -> None:
    """Hands freed heap memory back to the system (glibc's `malloc_trim`).

    Each trial builds and frees a model; TensorFlow's freed buffers otherwise
    stay in the process' heap, fragmented, and the resident memory of a long
    search creeps up trial after trial. A no-op with other C libraries.
    """
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)


#: How TensorFlow names the gradient of each traced `custom_gradient` call.
CUSTOM_GRADIENT_PREFIX = "CustomGradient-"


def _gradient_registry():
    """TensorFlow's registry of gradient functions (None if it moved)."""
    try:
        from tensorflow.python.framework import ops

        return ops._gradient_registry._registry  # noqa: SLF001 - no public API
    except (ImportError, AttributeError):
        return None


def traced_gradients() -> frozenset:
    """The names of the custom gradients that TensorFlow holds now."""
    registry = _gradient_registry()
    if registry is None:
        return frozenset()
    return frozenset(n for n in registry if n.startswith(CUSTOM_GRADIENT_PREFIX))


def release_traced_gradients(keep: frozenset) -> int:
    """Drops the custom gradients that traced training functions registered.

    Tracing a `custom_gradient` call registers its gradient in a global
    registry of TensorFlow's that is never emptied, and the gradient's
    closure holds the whole traced graph. Keras' optimizers pass dense
    gradients through the replica context's `all_reduce`, which is such a
    call: without this, the training function of every trial whose
    gradients are all dense (no embedding) outlives it, ~20,000 Python
    objects and their memory a trial. The registry is read while a graph
    that calls the gradient is traced; a finished trial's functions are not
    traced again (a retrace registers anew). Names in `keep` (registered
    before the search) stay.

    Returns:
        How many gradients were dropped.
    """
    registry = _gradient_registry()
    if registry is None:
        return 0
    names = [n for n in traced_gradients() if n not in keep]
    for name in names:
        registry.pop(name, None)
    return len(names)
