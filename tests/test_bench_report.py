"""The benchmark report rebuilds its table and plot from saved results."""

import json
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "bench"))
import run as harness  # noqa: E402

pytest.importorskip("matplotlib")


def _result(row, system, metrics, **extra):
    return {
        "row": row,
        "system": system,
        "metrics": metrics,
        "fit_seconds": 1.5,
        "peak_rss_mb": 200.0,
        "date": "2026-01-02",
        "machine": "2 cores, a CPU",
        "command": "python bench/run.py --rows adult",
        **extra,
    }


def test_report_only_keeps_sections_and_draws_the_plot(tmp_path, monkeypatch):
    results = tmp_path / "results"
    results.mkdir()
    saved = {
        "adult_baseline": _result(
            "adult", "HistGradientBoosting", {"accuracy": 0.87, "roc_auc": 0.93}
        ),
        "adult_automl": _result(
            "adult",
            "automl_keras (morphism)",
            {"accuracy": 0.86, "roc_auc": 0.91},
            trials=4,
            time_limit=300.0,
        ),
    }
    for name, result in saved.items():
        (results / f"{name}.json").write_text(json.dumps(result))
    monkeypatch.setattr(harness, "RESULTS", str(results))
    report = tmp_path / "docs" / "benchmarks.md"
    report.parent.mkdir()
    report.write_text("# old\n\n<!-- memory -->\n## Memory\nkept\n")

    assert harness.main(["--report-only", "--output", str(report)]) == 0
    text = report.read_text()
    assert "| automl_keras (morphism) | accuracy 0.8600, roc_auc 0.9100 |" in text
    assert "`python bench/run.py --rows adult`" in text
    assert "](img/benchmarks.png)" in text
    assert "bash bench/run_all.sh" in text
    assert text.endswith("<!-- memory -->\n## Memory\nkept\n")
    assert (tmp_path / "docs" / "img" / "benchmarks.png").stat().st_size > 1000


def test_machine_names_memory_and_versions():
    machine = harness._machine()
    assert "cores" in machine and "TensorFlow" in machine and "Keras" in machine


def test_benchmark_sections_share_one_table_format_and_command_line():
    assert harness.markdown_table(["a", "b"], [[1, "x"], ["2.5", None]]) == [
        "| a | b |",
        "|---|---|",
        "| 1 | x |",
        "| 2.5 | None |",
    ]
    args = harness.bench_parser("Doc line.\n\nMore.", 60.0).parse_args(
        ["--seed", "3", "--no-write"]
    )
    assert (args.time_limit, args.seed, args.no_write) == (60.0, 3, True)
    assert args.output.endswith(os.path.join("docs", "benchmarks.md"))
    compared = harness.comparison_parser("Doc.", ("adult", "mnist"), 90.0)
    parsed = compared.parse_args(["--rows", "mnist"])
    assert (parsed.rows, parsed.time_limit, parsed.child) == (["mnist"], 90.0, None)
