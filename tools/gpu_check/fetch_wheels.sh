#!/usr/bin/env bash
# Download the wheels of tools/gpu_check/wheels.txt into .whl/ (git-ignored),
# for the Python of the GPU machine, so that tools/gpu_check.sh can install
# them there without network (README "GPU check").
#
# Usage:  bash tools/gpu_check/fetch_wheels.sh [PYTHON_VERSION]   # default 3.12
set -euo pipefail
cd "$(dirname "$0")/../.."
PYVER=${1:-3.12}
PY=${PYTHON:-python3}
mkdir -p .whl
grep -v '^\s*#' tools/gpu_check/wheels.txt | grep -v '^\s*$' > .whl/requirements.txt
# All of them are pure Python (py3-none-any): the platform tags only let
# pip pick them for another interpreter version.
"$PY" -m pip download --no-deps --only-binary=:all: --python-version "$PYVER" \
  --implementation cp --platform manylinux_2_28_x86_64 \
  --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  -d .whl -r .whl/requirements.txt
rm .whl/requirements.txt
du -sh .whl
