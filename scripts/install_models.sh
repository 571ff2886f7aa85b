#!/usr/bin/env bash
# Installs what the reward-model backends need into the venv given as $1 (called by install.sh).
# transformers 5 with torch==2.13.0 already in the venv; never torchvision (it breaks the Qwen3-VL import).
set -euo pipefail
VENV=${1:?usage: scripts/install_models.sh VENV}
PIP="$VENV/bin/python -m pip --disable-pip-version-check -q"
$PIP install "transformers>=5,<6" "peft>=0.13" "safetensors>=0.4" pillow pyyaml
"$VENV/bin/python" - <<'PY'
import torch
assert torch.__version__.startswith("2.13.0"), f"torch changed to {torch.__version__}"
try:
    import torchvision  # noqa: F401
    raise SystemExit("torchvision is installed: remove it, it breaks transformers' Qwen3-VL import here")
except ImportError:
    pass
PY
