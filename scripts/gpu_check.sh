#!/usr/bin/env bash
# Issue 20's GPU check, one script, about 8 minutes on one H100/H200 (no replays needed:
# everything runs on synthetic batches or an in-memory synthetic corpus). Writes JSON and
# the logs to $OUT (default ./gpu_check_out):
#
#   scaling.json    bench_train --scaling: the trainer's step at 256, 1024 and 4096 windows
#                   of 30 frames (mlp, lstm, attention; fp32 and bf16): ms per step,
#                   frames/s, the fixed per-step cost, the GPU's busy fraction
#   compiled.json   the same for lstm with torch.compile(mode="reduce-overhead") (CUDA graphs)
#   train.json      a real train() of the lstm preset (its CUDA batch: 1024 windows) on a
#                   synthetic corpus: frames/s from its records, data wait, GPU busy
#   inference.json  bench_inference's CUDA tables (fp32, bf16; 256/1024/4096 games)
#   dry_run.txt     what train-bc --dry-run's speed line says on this device
#
#   scripts/gpu_check.sh            # the real check (on a CUDA machine)
#   scripts/gpu_check.sh --tiny     # a seconds-long rehearsal (runs on a CPU too)
#
# Each part has its own time limit; one that fails or runs out leaves its log and the
# others still run. The targets (issue 20): >= 3M frames/s in train(), GPU busy >= 70%,
# fixed per-step cost <= 3 ms, bf16 >= fp32, inference >= 2M game-frames/s at 4096.
set -u
cd "$(dirname "$0")/.."
OUT="${OUT:-$PWD/gpu_check_out}"
mkdir -p "$OUT"
PY="${PYTHON:-.venv/bin/python}"
[ -x "$PY" ] || PY=python3
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"

TINY=0
[ "${1:-}" = "--tiny" ] && TINY=1

if [ "$TINY" = 1 ]; then
  SCALING=(--batches 2,4 --scaling-kinds mlp,lstm --scaling-steps 2 --min-seconds 0.05 --window 8)
  COMPILED=()  # compiling takes minutes on a CPU: the rehearsal skips it
  TRAIN=(--train-synthetic 6 --synthetic-games 4 --synthetic-frames 300 --preset lstm)
  INFER=(--steps 20 --block 5 --kinds mlp,lstm --no-onnx)
  LIMIT=300
else
  SCALING=(--scaling-kinds mlp,lstm,attention --scaling-steps 10 --min-seconds 1.5)
  COMPILED=(--scaling-kinds lstm --dtypes bf16 --compile-mode reduce-overhead --batches 1024
            --scaling-steps 10 --min-seconds 1.5)
  TRAIN=(--train-synthetic 400 --synthetic-games 60 --synthetic-frames 3600 --preset lstm)
  INFER=(--steps 400 --block 50 --kinds mlp,lstm,attention --no-onnx)
  LIMIT=200
fi

part() {  # part NAME SECONDS CMD...: stdout to NAME.json, stderr to NAME.log
  local name=$1 secs=$2
  shift 2
  local t0=$SECONDS
  timeout "$secs" "$@" >"$OUT/$name.json" 2>"$OUT/$name.log"
  local rc=$?
  echo "$name: exit $rc, $((SECONDS - t0)) s" | tee -a "$OUT/summary.txt"
}

: >"$OUT/summary.txt"
"$PY" -c "import torch, json; print(json.dumps({'torch': torch.__version__,
  'cuda': torch.cuda.is_available(),
  'gpu': torch.cuda.get_device_name() if torch.cuda.is_available() else None}))" \
  >"$OUT/machine.json" 2>&1
nvidia-smi >"$OUT/nvidia-smi.txt" 2>&1 || true

part scaling "$LIMIT" "$PY" scripts/bench_train.py --json --synthetic --scaling "${SCALING[@]}"
if [ "${#COMPILED[@]}" -gt 0 ]; then
  part compiled 120 "$PY" scripts/bench_train.py --json --synthetic --scaling "${COMPILED[@]}"
fi
part train 120 "$PY" scripts/bench_train.py --json --synthetic "${TRAIN[@]}"
part inference 100 "$PY" scripts/bench_inference.py --json "${INFER[@]}"
"$PY" - >"$OUT/dry_run.txt" 2>&1 <<'EOF'
import msgspec, torch
from exphil.train import TrainConfig
from exphil.train._layers import load_preset
from exphil.train._speed import effective_config, measure_step
from exphil.train._trainer import resolve_device
device = resolve_device("auto")
for name in ("lstm", "attention", "mlp"):
    cfg = effective_config(msgspec.convert(load_preset("train-bc", name), TrainConfig), device)
    s = measure_step(cfg, device, warmup=2, steps=10, max_seconds=5.0)
    print(name, device, f"batch {s.batch} x {s.window}, lr {cfg.optim.lr:g}:",
          f"{s.seconds * 1e3:.2f} ms per step, {s.frames_per_s:,.0f} frames/s")
EOF
echo "dry_run: exit $?" | tee -a "$OUT/summary.txt"
echo "results in $OUT"
