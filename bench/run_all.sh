#!/usr/bin/env bash
# Every benchmark, one after the other; each writes its part of docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
python bench/run.py "$@"
python bench/memory.py
python bench/morphism.py
