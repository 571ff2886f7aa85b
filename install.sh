#!/usr/bin/env bash
# Installs vlmreward_gym into a virtual environment, from a clean checkout, with no prompt.
#   bash install.sh            # core + every simulator (ManiSkill3 on CPU Vulkan, Robomimic)
#   bash install.sh --core     # core only (numpy/gymnasium/torch), no simulator
# The venv is .venv unless VLMREWARD_VENV says otherwise. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")"
VENV=${VLMREWARD_VENV:-.venv}
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
PIP="$VENV/bin/python -m pip --disable-pip-version-check -q"
$PIP install --upgrade pip
# The exact pin matters: any other torch requirement pulls several GB of CUDA wheels.
# Never add torchvision: it has no CPU build here and breaks transformers' Qwen3-VL import.
$PIP install "torch==2.13.0"
$PIP install -e ".[torch,eval,rl,serve,sweep,dev]"
if [ "${1:-}" != "--core" ]; then
    for script in scripts/install_*.sh; do
        [ -e "$script" ] || continue
        echo "== $script"
        bash "$script" "$VENV"
    done
fi
echo "vlmreward_gym installed in $VENV"
