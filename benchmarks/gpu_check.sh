#!/usr/bin/env bash
# The GPU check, for a machine with a CUDA device: the gpu-marked tests, then benchmarks/gpu_check.py
# (reduced precision against fp32, fps and peak memory at 1080p and 720p, memory against clip length).
# Under 5 minutes on one GPU. Extra arguments go to gpu_check.py (e.g. --json runs/gpu_check.json).
#
#   bash benchmarks/gpu_check.sh [--json FILE] [--clips DIR]
#   bash benchmarks/gpu_check.sh --dry-run     # CPU, tiny sizes, a few seconds: checks the script
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python}"
started=$(date +%s)
status=0
if [[ " $* " == *" --dry-run "* ]]; then
    echo "dry run: skipping '$PYTHON -m pytest -q -m gpu tests' (needs CUDA)"
else
    "$PYTHON" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'gpu_check: no CUDA device (try --dry-run)')"
    echo "== gpu-marked tests"
    timeout 150 "$PYTHON" -m pytest -q -m gpu -p no:cacheprovider tests || status=1
fi
echo "== gpu_check.py"
timeout 240 "$PYTHON" benchmarks/gpu_check.py "$@" || status=1
echo "== total $(( $(date +%s) - started )) s, $([[ $status == 0 ]] && echo 'all passed' || echo 'FAILED')"
exit $status
