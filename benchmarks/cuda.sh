#!/usr/bin/env bash
# The GPU checks in one run, for a machine with a CUDA GPU and torch (no install step: the
# checks need only torch, numpy, pandas, Pillow and safetensors):
#   benchmarks/cuda.sh FERPLUS_FOLDER [OUT_FOLDER]
# 1. the CUDA tests (tests/library/test_engine_cuda.py and mc_predict's device copy);
# 2. benchmarks/engine_settings.py: the GPU defaults of bnnfer.models.engine, measured;
# 3. benchmarks/mc_inference.py at 64 images per pass (as on the CPU), with the placements and the
#    end-to-end timings, then at 1024 images per pass (the engine's large-batch GFLOP/s);
# 4. torch.compile against eager for the MC rows.
# Each step writes its JSON or log into OUT_FOLDER (default benchmarks/results) as it ends, so
# a step that fails or is cut off loses only its own figures.
set -uo pipefail
cd "$(dirname "$0")/.."
data=${1:?usage: benchmarks/cuda.sh FERPLUS_FOLDER [OUT_FOLDER]}
out=${2:-benchmarks/results}
mkdir -p "$out"
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD:$PWD/benchmarks${PYTHONPATH:+:$PYTHONPATH}"
export BNNFER_CACHE=${BNNFER_CACHE:-$(mktemp -d)}

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name(0))"

python3 -m pytest -q -p no:cacheprovider tests/library/test_engine_cuda.py \
  "tests/library/test_inference.py::test_other_device_runs_a_copy_and_leaves_the_model_where_it_was" \
  2>&1 | tee "$out/cuda-tests.log"

python3 benchmarks/engine_settings.py --device cuda --batches 1 64 256 1024 \
  --rows 1024 4096 16384 --out "$out/engine_settings-cuda.json"

python3 benchmarks/mc_inference.py --device cuda --models bnnfer/assets/models --data "$data" \
  --whole-split --quality-faces 1000 --seconds 0.5 --out "$out/mc_inference-cuda.json"
python3 benchmarks/mc_inference.py --device cuda --models bnnfer/assets/models --data "$out/none" \
  --batch 1024 --samples 30 100 --seconds 0.5 --out "$out/mc_inference-cuda-batch1024.json"

timeout 240 python3 - "$data" "$out/compile-cuda.json" <<'EOF'
import sys

import bench
from bnnfer.training.bundle import load_bundle
from bnnfer.data.ferplus import load_ferplus

faces = load_ferplus(sys.argv[1], splits=["valid"])["valid"].images[:1024]
methods = load_bundle("bnnfer/assets/models", device="cuda")
mc = {key: method for key, method in methods.items() if method.sampled}
records = bench.compile_vs_eager(mc, faces, precision="auto")
print(bench.format_table(records, ["method", "images", "eager_s", "compiled_s", "fell_back"]))
bench.write_json(sys.argv[2], {"machine": bench.machine(), "compile": records})
EOF
