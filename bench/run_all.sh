#!/usr/bin/env bash
# Every benchmark, one after the other (about two hours on 2 cores); each writes its
# part of docs/benchmarks.md, run.py also the plot docs/img/benchmarks.png.
set -euo pipefail
cd "$(dirname "$0")/.."
python bench/run.py "$@"
python bench/memory.py
python bench/morphism.py
python bench/oracles.py
python bench/series.py
python bench/tables.py
python bench/oneshot.py
python bench/oneshot.py --ranking
