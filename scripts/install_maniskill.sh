#!/usr/bin/env bash
# ManiSkill3 on the CPU: mani-skill into the venv, the Vulkan loader from Debian's normal suite,
# and Mesa 25's lavapipe (a CPU Vulkan driver) from bookworm-backports unpacked into .deps/vulkan.
#   bash scripts/install_maniskill.sh VENV     (install.sh calls it; run as root on Debian 12)
# Idempotent, no prompt. The system's apt sources are never changed: the backports package is
# fetched with a private sources list, lists dir and cache under .deps/apt and unpacked with
# `dpkg -x`; nothing is installed system-wide except libvulkan1.
# Why: SAPIEN needs Vulkan even for state observations, and Debian 12's own lavapipe (Mesa 22)
# is rejected by SAPIEN ("Failed to find a supported physical device").
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
VENV=${1:?usage: install_maniskill.sh VENV}
PY="$VENV/bin/python"
[ -x "$PY" ] || { echo "no python in venv $VENV; run install.sh first" >&2; exit 1; }
DEPS="$ROOT/.deps"
SUITE=bookworm-backports

# 1. Python packages. A constraint keeps the torch already installed (an unpinned torch pulls
#    CUDA wheels); numpy 2 makes mplib (the motion planner) segfault.
TORCH=$("$PY" -c 'import torch; print(torch.__version__.split("+")[0])') \
    || { echo "torch is not installed in $VENV; run install.sh (it installs torch==2.13.0 first)" >&2; exit 1; }
CONSTRAINTS="$DEPS/maniskill-constraints.txt"
mkdir -p "$DEPS"
echo "torch==$TORCH" > "$CONSTRAINTS"
"$PY" -m pip --disable-pip-version-check -q install -c "$CONSTRAINTS" \
    "mani-skill==3.0.1" "numpy<2" "opencv-python<4.12"

# 2. The Vulkan loader (libvulkan.so.1) from the normal suite. Waits for another apt/dpkg run.
APT_WAIT="-o DPkg::Lock::Timeout=900"
if ! dpkg-query -W -f='${Status}' libvulkan1 2>/dev/null | grep -q "install ok installed"; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get $APT_WAIT update -qq || apt-get $APT_WAIT update -qq
    apt-get $APT_WAIT install -y -qq --no-install-recommends libvulkan1
fi

# 3. Mesa 25 lavapipe from backports into .deps/vulkan (private apt state under .deps/apt).
VK="$DEPS/vulkan"
LIB=$(find "$VK" -name libvulkan_lvp.so 2>/dev/null | head -n1 || true)
if [ -z "$LIB" ]; then
    APTDIR="$DEPS/apt"
    mkdir -p "$APTDIR/lists/partial" "$APTDIR/cache/archives/partial" "$APTDIR/debs"
    # The Debian mirror the system already uses (deb822 or one-line format); deb.debian.org otherwise.
    MIRROR=$(grep -hoE '^URIs:[[:space:]]*[^[:space:]]+/debian/?$' /etc/apt/sources.list.d/*.sources 2>/dev/null \
                 | head -n1 | awk '{print $2}' || true)
    [ -n "$MIRROR" ] || MIRROR=$(grep -hoE '^deb[[:space:]]+(\[[^]]*\][[:space:]]+)?[^[:space:]]+/debian/?[[:space:]]' \
                 /etc/apt/sources.list 2>/dev/null | head -n1 | awk '{print $NF}' || true)
    [ -n "$MIRROR" ] || MIRROR=http://deb.debian.org/debian
    echo "deb $MIRROR $SUITE main" > "$APTDIR/sources.list"
    APTO=(-o "Dir::Etc::sourcelist=$APTDIR/sources.list" -o "Dir::Etc::sourceparts=-"
          -o "Dir::State::Lists=$APTDIR/lists" -o "Dir::Cache=$APTDIR/cache"
          -o "APT::Sandbox::User=root" -o "DPkg::Lock::Timeout=900")
    apt-get "${APTO[@]}" update -qq
    (cd "$APTDIR/debs" && apt-get "${APTO[@]}" download -qq "mesa-vulkan-drivers/$SUITE")
    rm -rf "$VK.tmp" && mkdir -p "$VK.tmp"
    dpkg -x "$(ls "$APTDIR"/debs/mesa-vulkan-drivers_*.deb | head -n1)" "$VK.tmp"
    rm -rf "$VK" && mv "$VK.tmp" "$VK"
    LIB=$(find "$VK" -name libvulkan_lvp.so | head -n1)
    [ -n "$LIB" ] || { echo "mesa-vulkan-drivers from $SUITE holds no libvulkan_lvp.so" >&2; exit 1; }
fi
# The ICD json names the driver relative to itself, so the checkout can move.
API=$(grep -oE '"api_version": *"[^"]+"' "$VK"/usr/share/vulkan/icd.d/lvp_icd*.json | head -n1 | grep -oE '[0-9.]+' || echo 1.3.0)
cat > "$VK/lvp_icd.json" <<JSON
{"file_format_version": "1.0.1", "ICD": {"library_path": "./${LIB#"$VK"/}", "api_version": "$API"}}
JSON

# 4. Project-local asset and cache folders (envs/maniskill.py finds them by itself).
mkdir -p "$DEPS/maniskill_assets" "$ROOT/.cache"

# 5. Check: SAPIEN creates a CPU render system through the project-local driver.
VK_ICD_FILENAMES="$VK/lvp_icd.json" "$PY" -c 'import sapien; sapien.render.RenderSystem(sapien.Device("cpu")); print("sapien CPU Vulkan render system: ok")'
