#!/usr/bin/env bash
# One command for a GPU machine (README "GPU check"): train the base and the
# fast model for 100 iterations with AMP (fp16 and bf16) through the stock
# `mim train`, test them with `mim test`, benchmark inference at batch 1 and
# 8 in fp32 / fp16 / bf16, and write one report.
#
# Usage (from anywhere; the checkout is found from this script's path):
#   bash tools/gpu_check.sh [OUT_DIR]          # default work_dirs/gpu_check
#
# Packages: the machine needs torch / torchvision (any CUDA build) and the
# mm* stack. Where it has no mm* packages and no network, bring the pinned
# pure-Python wheels in .whl/ (tools/gpu_check/fetch_wheels.sh, run on a
# machine with network); they are installed into a private folder
# ($GPU_CHECK_SITE, default /tmp/mmyowo-gpu-site) and mmyowo runs from the
# checkout through PYTHONPATH, so nothing of the machine's Python changes.
#
# Settings (environment): GPU_CHECK_ITERS (100), GPU_CHECK_AMP ("fp16 bf16";
# "none" trains in fp32 without AMP, the only way on a CPU),
# GPU_CHECK_DEVICE (cuda), GPU_CHECK_MODELS ("yowo_plus_synthetic_224
# yowo_plus_tiny_synthetic_224", configs/gpu_check/), GPU_CHECK_BENCH_BATCHES
# ("1 8"), GPU_CHECK_BENCH_DTYPES ("fp32 fp16 bf16"), GPU_CHECK_CFG_OPTIONS
# (extra --cfg-options for every mim call, e.g. a smaller batch for a dry run
# on a CPU), GPU_CHECK_BENCH_ARGS (extra benchmark arguments, e.g.
# "--repeats 1 --warmup 0"), PYTHON (python3).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)
OUT=${1:-work_dirs/gpu_check}
ITERS=${GPU_CHECK_ITERS:-100}
AMP=${GPU_CHECK_AMP:-"fp16 bf16"}
DEVICE=${GPU_CHECK_DEVICE:-cuda}
MODELS=${GPU_CHECK_MODELS:-"yowo_plus_synthetic_224 yowo_plus_tiny_synthetic_224"}
BENCH_BATCHES=${GPU_CHECK_BENCH_BATCHES:-"1 8"}
BENCH_DTYPES=${GPU_CHECK_BENCH_DTYPES:-"fp32 fp16 bf16"}
read -r -a EXTRA <<< "${GPU_CHECK_CFG_OPTIONS:-}"
read -r -a BENCH_ARGS <<< "${GPU_CHECK_BENCH_ARGS:-}"
PY=${PYTHON:-python3}
SITE=${GPU_CHECK_SITE:-/tmp/mmyowo-gpu-site}
DATA=data/gpu_check_synthetic
mkdir -p "$OUT"
START=$(date +%s)

# 1. Packages: the carried wheels, if any, into a private folder.
if compgen -G ".whl/*.whl" > /dev/null; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --upgrade \
    --target "$SITE" .whl/*.whl
  export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1
"$PY" - <<'PYEOF' | tee "$OUT/env.txt"
import platform, torch, mmengine, mmcv, mmdet, mmaction, mmyowo
gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'none'
print(f'python {platform.python_version()}, torch {torch.__version__} '
      f'(CUDA {torch.version.cuda}), mmengine {mmengine.__version__}, '
      f'mmcv {mmcv.__version__}, mmdet {mmdet.__version__}, '
      f'mmaction {mmaction.__version__}, mmyowo {mmyowo.__version__}')
print(f'GPU: {gpu}')
PYEOF
MIM=("$PY" -m mim)

# 2. Data: the synthetic set at 224x224 (seconds).
if [ ! -f "$DATA/annotations/synthetic_gt.pkl" ]; then
  "$PY" tools/data/generate_synthetic.py "$DATA" --num-train-videos 40 \
    --num-test-videos 4 --num-frames 40 --frame-size 224 224 > /dev/null
fi

# 3. Train each model with each AMP dtype, test the last run's checkpoint.
for model in $MODELS; do
  cfg=configs/gpu_check/$model.py
  for amp in $AMP; do
    work=$OUT/train_${model}_$amp
    rm -rf "$work"
    args=(--work-dir "$work")
    case $amp in
      none) ;;
      fp16) args+=(--amp) ;;
      bf16) args+=(--amp) EXTRA_AMP=(optim_wrapper.dtype=bfloat16) ;;
      *) echo "GPU_CHECK_AMP: unknown $amp (fp16, bf16 or none)" >&2; exit 2 ;;
    esac
    tic=$(date +%s)
    "${MIM[@]}" train mmaction "$cfg" "${args[@]}" --cfg-options \
      train_cfg.max_iters="$ITERS" default_hooks.checkpoint.interval="$ITERS" \
      ${EXTRA_AMP[@]+"${EXTRA_AMP[@]}"} ${EXTRA[@]+"${EXTRA[@]}"} \
      > "$work.log" 2>&1 || { tail -30 "$work.log"; exit 1; }
    echo "$(( $(date +%s) - tic ))" > "$work.seconds"
    unset EXTRA_AMP
    echo "[gpu_check] trained $model ($amp): $(cat "$work.seconds") s"
    last=$work
  done
  tic=$(date +%s)
  "${MIM[@]}" test mmaction "$cfg" --checkpoint "$(cat "$last/last_checkpoint")" \
    --work-dir "$OUT/test_$model" ${EXTRA[@]+--cfg-options "${EXTRA[@]}"} \
    > "$OUT/test_$model.log" 2>&1 || { tail -30 "$OUT/test_$model.log"; exit 1; }
  echo "$(( $(date +%s) - tic ))" > "$OUT/test_$model.seconds"
  echo "[gpu_check] tested $model: $(cat "$OUT/test_$model.seconds") s"
done

# 4. Inference benchmark of the models side by side (random weights: speed
#    only): eager fp32 and the optimized path at each precision.
configs=()
for model in $MODELS; do configs+=("configs/gpu_check/$model.py"); done
# shellcheck disable=SC2086
"$PY" tools/analysis/benchmark.py "${configs[@]}" --device "$DEVICE" \
  --backends eager optimized --dtypes $BENCH_DTYPES --clip-lens 16 \
  --batch-sizes $BENCH_BATCHES --out "$OUT/bench_models.md" \
  ${BENCH_ARGS[@]+"${BENCH_ARGS[@]}"} \
  > "$OUT/bench_models.log" 2>&1 || { tail -30 "$OUT/bench_models.log"; exit 1; }
echo "[gpu_check] benchmarked $MODELS"

echo "$(( $(date +%s) - START ))" > "$OUT/total.seconds"
"$PY" tools/gpu_check/report.py "$OUT"
