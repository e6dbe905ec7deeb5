"""Every search strategy at the same time limit, on mnist_5k and adult.

One run compares all tuners (greedy, random, bayesian, hyperband, morphism,
evolution, rl) and random search with zero-cost screening (NASWOT, 8
candidates per trial): best validation score, test accuracy, trials and epochs
trained, and for the screened search how well the proxy ranked the trained
trials (Spearman). Each search runs in its own process.

    python bench/oracles.py --time-limit 90
"""

from __future__ import annotations

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import morphism  # noqa: E402
import run as harness  # noqa: E402

from automl_keras.search.oracles import TUNERS  # noqa: E402

ROWS = ("mnist", "adult")
#: Each strategy: (label, tuner, extra estimator arguments).
STRATEGIES = [(name, name, {}) for name in TUNERS] + [
    ("random + naswot", "random", {"zero_cost": "naswot", "zero_cost_candidates": 8})
]


def write_section(results: list, command: str, path: str) -> None:
    marker = "<!-- oracles -->"
    lines = [
        marker,
        "## Search strategies at the same time limit",
        "",
        f"Command: `{command}`, on {harness._machine()}. Every strategy gets the "
        "same `time_limit` and seed; image search uses the plain CNN family "
        '(`block_type="vanilla"`). Test accuracy is that of the refit best model. '
        "Spearman: rank correlation of the zero-cost score at initialisation with "
        "the trained validation score (1 = perfect ranking).",
        "",
    ]
    lines += harness.markdown_table(
        [
            "data",
            "strategy",
            "best val loss",
            "best val acc",
            "test acc",
            "trials",
            "epochs trained",
            "fit s",
            "proxy Spearman",
        ],
        [
            [
                r["row"],
                r["strategy"],
                f"{r['best_val_loss']:.4f}",
                f"{r['best_val_accuracy']:.4f}",
                f"{r['test_accuracy']:.4f}",
                r["trials"],
                r["epochs_trained"],
                f"{r['fit_seconds']:.0f}",
                harness._format(r.get("zero_cost_spearman"), 2),
            ]
            for r in results
        ],
    )
    lines.append("")
    harness.replace_section(path, marker, "\n".join(lines))


def main(argv=None) -> int:
    args = harness.comparison_parser(__doc__, ROWS, 90.0).parse_args(argv)
    labels = {label: (tuner, options) for label, tuner, options in STRATEGIES}
    if args.child:
        row, label = args.child
        tuner, options = labels[label]
        result = morphism.search(
            row, tuner, args.time_limit, args.seed, project="oracles", **options
        )
        result["strategy"] = label
        print("RESULT " + json.dumps(result), flush=True)
        return 0
    results = []
    for row in args.rows:
        for label in labels:
            results.append(harness.comparison_child(__file__, args, row, label))
    if not args.no_write:
        shown = " ".join(["python bench/oracles.py"] + (argv or sys.argv[1:]))
        write_section(results, shown, args.output)
        print(f"Wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
