#!/usr/bin/env bash
# Create (or reuse) the project's virtual environment at .venv/ with the pinned stack.
#
# Usage:  bash tools/setup_env.sh            # CPU/CUDA build of torch 2.9.1 from PyPI
#         TORCH_SPEC="torch==2.9.1 torchvision==0.24.1" bash tools/setup_env.sh
#
# The environment is rebuilt only when the requirement files or this script change
# (a stamp in .venv/ records their hash), so calling it before every command is cheap.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
VENV="$ROOT/.venv"
PY=${PYTHON:-python3}
TORCH_SPEC=${TORCH_SPEC:-"torch==2.9.1 torchvision==0.24.1"}

stamp_of() {
  cat tools/setup_env.sh requirements/*.txt setup.py 2>/dev/null | sha256sum | cut -c1-16
  echo "$TORCH_SPEC"
}
want=$(stamp_of | tr '\n' ' ')
if [ -f "$VENV/.mmyowo-stamp" ] && [ "$(cat "$VENV/.mmyowo-stamp")" = "$want" ]; then
  exit 0
fi

echo "[setup_env] building $VENV (torch: $TORCH_SPEC); the mmcv build takes ~20 min on 2 cores" >&2
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
PIP="$VENV/bin/python -m pip"
$PIP install -q --upgrade pip wheel 'setuptools>=77.0.3,<82'
# shellcheck disable=SC2086
$PIP install -q $TORCH_SPEC
$PIP install -q 'numpy>=1.24,<2.3' mmengine==0.10.7 ninja psutil
# mmcv 2.1.0 has no wheel for this torch: build it from source with its (CPU, or CUDA when
# a GPU and nvcc are present) ops. --no-build-isolation so that it compiles against our torch.
if ! "$VENV/bin/python" -c "import mmcv.ops" 2>/dev/null; then
  MMCV_WITH_OPS=1 MAX_JOBS=${MAX_JOBS:-2} $PIP install -q --no-build-isolation mmcv==2.1.0
fi
$PIP install -q -r requirements/runtime.txt -r requirements/tests.txt
# Developer checks (tools/lint.sh, .ci/run): pinned formatter, linters, mypy.
$PIP install -q -r requirements/lint.txt
$PIP install -q --no-build-isolation --no-deps -e .
"$VENV/bin/python" -c "import torch, mmcv.ops, mmdet, mmaction, mmyowo; print('[setup_env] ok: torch', torch.__version__, 'mmcv', mmcv.__version__)" >&2
echo "$want" > "$VENV/.mmyowo-stamp"
