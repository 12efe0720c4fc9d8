#!/usr/bin/env bash
# The CUDA tier, in one call on a machine with a GPU (about 5 minutes; a device run is capped at 8):
#   bash benchmarks/gpu_check.sh [RESULTS_DIR]
# 1. the tests marked `cuda` (tests/cuda; tests/studio/test_cuda_worker.py where PySide6 is there);
# 2. benchmarks/bench_gpu.py: studio-fast's images a second on the GPU against the same networks in a plain
#    PyTorch loop, a ratio measured in one process.
# Results go to RESULTS_DIR (default: $OUT, which the device tool brings back, else gpu-results/).
#
# The device tool's machine has its own python3 with a CUDA build of torch and no network: the code runs
# from this folder (PYTHONPATH), and a package its image lacks travels as wheels in .whl/ (carry: [".whl"]):
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#     --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 -d .whl platformdirs==4.14.7
set -uo pipefail
cd "$(dirname "$0")/.."
RESULTS="${1:-${OUT:-gpu-results}}"
mkdir -p "$RESULTS"
PY=python3
if [ -x .venv/bin/python ] && .venv/bin/python -c 'import sys, torch; sys.exit(not torch.cuda.is_available())' 2>/dev/null; then
  PY=.venv/bin/python
fi
if compgen -G ".whl/*.whl" > /dev/null; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 QT_QPA_PLATFORM=offscreen
export CGAN_GPU_CHECK=1  # tests/conftest.py: only the CUDA tier's own needs are required here
{
  echo "date: $(date -u +%Y-%m-%dT%H:%MZ)  commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo "no nvidia-smi"
  "$PY" -c "import sys, torch; print('python', sys.version.split()[0], 'torch', torch.__version__, 'cuda', torch.version.cuda, 'available', torch.cuda.is_available())"
} > "$RESULTS/summary.txt" 2>&1
TESTS=(tests/cuda)
if "$PY" -c 'import PySide6, pyqtgraph, pytestqt' 2>/dev/null; then
  TESTS+=(tests/studio/test_cuda_worker.py)
else
  echo "studio on CUDA: not run (PySide6, pyqtgraph or pytest-qt missing here)" >> "$RESULTS/summary.txt"
fi
timeout 330 "$PY" -m pytest -m cuda -q -rs -p no:cacheprovider "${TESTS[@]}" --junitxml="$RESULTS/cuda-tests.xml" \
  > "$RESULTS/cuda-tests.txt" 2>&1
echo "cuda tests: exit $? ($(tail -n 1 "$RESULTS/cuda-tests.txt"))" >> "$RESULTS/summary.txt"
timeout 120 "$PY" -m benchmarks.bench_gpu --seconds 15 > "$RESULTS/bench_gpu.json" 2> "$RESULTS/bench_gpu.err"
echo "bench_gpu: exit $? $(tail -n 1 "$RESULTS/bench_gpu.json")" >> "$RESULTS/summary.txt"
cat "$RESULTS/summary.txt"
