#!/usr/bin/env bash
# Installs the Robomimic stack (robosuite 1.4.1 + MuJoCo 3 + robomimic 0.3.0) into a venv.
#   bash scripts/install_robomimic.sh VENV
# Called by install.sh with the venv path. Idempotent and non-interactive; on a clean Debian 12
# machine it needs root only to apt-get the headless EGL/Mesa libraries when they are missing.
set -euo pipefail
VENV=${1:?usage: install_robomimic.sh VENV}
PY="$VENV/bin/python"
[ -x "$PY" ] || { echo "install_robomimic.sh: no python at $PY; run install.sh first" >&2; exit 1; }
PIP="$PY -m pip --disable-pip-version-check -q"

# Headless rendering: MuJoCo renders through EGL on Mesa's software driver (MUJOCO_GL=egl).
APT_PKGS=(libegl1 libegl-mesa0 libgl1-mesa-dri libgbm1 libglvnd0)
missing=()
for p in "${APT_PKGS[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
    echo "install_robomimic.sh: apt-get install ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    for try in 1 2 3 4 5 6; do  # another process may hold the dpkg lock
        if apt-get update -q && apt-get install -y -q --no-install-recommends "${missing[@]}"; then break; fi
        [ "$try" = 6 ] && { echo "install_robomimic.sh: apt-get failed" >&2; exit 1; }
        sleep 20
    done
fi

# One pip command so the resolver sees every pin: mujoco 3.10+ and 4.x break robosuite 1.4.1,
# and numpy<2 keeps the env shareable with ManiSkill3 (its motion planner crashes on numpy 2).
$PIP install "robosuite==1.4.1" "mujoco>=3.1.6,<3.10" "numpy<2" numba
# robomimic's requirements name torchvision (no working CPU build here): install it without
# dependencies, then only what its env / obs / dataset modules import at run time.
$PIP install --no-deps "robomimic==0.3.0"
$PIP install "numpy<2" h5py tqdm egl_probe termcolor psutil imageio imageio-ffmpeg

# Smoke check: the stack imports (robomimic needs the mujoco_py stand-in, see envs/robomimic.py).
MUJOCO_GL=${MUJOCO_GL:-egl} "$PY" -c "import vlmreward_rl.envs.robomimic, robosuite, robomimic.envs.env_robosuite, robomimic.utils.env_utils, numpy; assert int(numpy.__version__.split('.')[0]) < 2, numpy.__version__"
echo "install_robomimic.sh: robosuite/robomimic ready in $VENV"
