#!/usr/bin/env bash
# Set up .venv/ if needed (tools/setup_env.sh), then run the whole test suite,
# including a short end-to-end `mim train` / `mim test` run on a generated
# synthetic set (tests/test_end_to_end.py), and the `Example:` doctests of the
# mmyowo package (only doctests are collected there; see setup.cfg).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup_env.sh
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} MKL_NUM_THREADS=${MKL_NUM_THREADS:-1}
exec .venv/bin/python -m pytest tests mmyowo --doctest-modules -q \
  -p no:cacheprovider "$@"
