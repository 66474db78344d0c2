#!/usr/bin/env bash
# Style, type and docstring checks (README "Development"; settings in
# setup.cfg, tools pinned in requirements/lint.txt).
#
# Usage:  bash tools/lint.sh          # check only; non-zero exit on any finding
#         bash tools/lint.sh --fix    # isort, yapf and docformatter rewrite the
#                                     # files in place, then every check runs
#
# Checks: flake8, isort, yapf, docformatter, codespell, mypy (the mmyowo
# package) and interrogate (docstring coverage of mmyowo, floor in setup.cfg).
# Every check runs even after a failure, so one run lists all findings.
set -uo pipefail
cd "$(dirname "$0")/.."
bash tools/setup_env.sh || exit 1
BIN=.venv/bin
# The Python sources: the package, tests, tools, configs and setup.py.
SOURCES=(mmyowo tests tools configs setup.py)

fix=0
case "${1:-}" in
  '') ;;
  --fix) fix=1 ;;
  *) echo "usage: bash tools/lint.sh [--fix]" >&2; exit 2 ;;
esac

if [ "$fix" = 1 ]; then
  "$BIN/isort" --quiet "${SOURCES[@]}" || exit 1
  "$BIN/yapf" --in-place --recursive --parallel "${SOURCES[@]}" || exit 1
  # docformatter exits 3 when it rewrote a file: only a crash is an error.
  "$BIN/python" tools/run_docformatter.py --in-place --recursive \
    "${SOURCES[@]}"
  [ $? -le 3 ] || exit 1
fi

# Docstring coverage; on a failure, list what lacks a docstring.
interrogate_mmyowo() {
  "$BIN/interrogate" --config setup.cfg mmyowo && return 0
  "$BIN/interrogate" --config setup.cfg -vv --omit-covered-files \
    --no-color mmyowo | grep MISSED
  return 1
}

failed=()
run_check() {
  local name=$1
  shift
  echo "[lint] $name" >&2
  if ! "$@"; then
    failed+=("$name")
  fi
}

run_check flake8 "$BIN/flake8" "${SOURCES[@]}"
run_check isort "$BIN/isort" --check-only --diff --quiet "${SOURCES[@]}"
run_check yapf "$BIN/yapf" --diff --recursive --parallel "${SOURCES[@]}"
run_check docformatter "$BIN/python" tools/run_docformatter.py --check \
  --diff --recursive "${SOURCES[@]}"
# codespell reads the whole tree (docs and README included) minus setup.cfg's
# skip list.
run_check codespell "$BIN/codespell"
run_check mypy "$BIN/mypy"
run_check interrogate interrogate_mmyowo

if [ ${#failed[@]} -gt 0 ]; then
  echo "[lint] FAILED: ${failed[*]} (bash tools/lint.sh --fix rewrites" \
    "what isort, yapf and docformatter can)" >&2
  exit 1
fi
echo "[lint] all checks passed" >&2
