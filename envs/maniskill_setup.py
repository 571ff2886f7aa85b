"""Process environment for ManiSkill3 on the CPU, found without hand-exported variables.

``scripts/install_maniskill.sh`` puts Mesa 25's lavapipe (a CPU Vulkan driver) and an ICD json
into ``<project>/.deps/vulkan/`` and creates ``<project>/.deps/maniskill_assets/``.
:func:`configure` points the process at them **before** ``mani_skill``/``sapien`` are imported
(both read these variables at import or first use). A variable that is already set always wins.

Variables set when unset:

``VK_ICD_FILENAMES``
    ``<deps>/vulkan/lvp_icd.json`` (SAPIEN needs Vulkan even for state observations; Debian 12's
    own Mesa 22 lavapipe is rejected by SAPIEN).
``MS_ASSET_DIR``
    ``<deps>/maniskill_assets`` (ManiSkill's default is ``~/.maniskill``).
``MS_SKIP_ASSET_DOWNLOAD_PROMPT``
    ``1`` (otherwise a missing asset opens an interactive prompt: EOFError in CI).
``MESA_SHADER_CACHE_DIR``
    ``<project>/.cache/mesa_shader_cache`` (keeps lavapipe's shader cache in the project without
    redirecting every other library's cache through ``XDG_CACHE_HOME``).

``<deps>`` is the first existing folder of: ``$VLMREWARD_DEPS_DIR``, ``<checkout>/.deps`` (next
to the ``envs`` package of an editable install), ``<venv>/../.deps``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

DEPS_ENV = "VLMREWARD_DEPS_DIR"
ICD_RELPATH = Path("vulkan") / "lvp_icd.json"
INSTALL_HINT = "bash scripts/install_maniskill.sh .venv   (or: bash install.sh)"


def deps_candidates() -> list[Path]:
    """Folders searched, in order, for the project-local ``.deps`` written by the install script."""
    out = []
    if os.environ.get(DEPS_ENV):
        out.append(Path(os.environ[DEPS_ENV]).expanduser())
    out.append(Path(__file__).resolve().parents[1] / ".deps")
    out.append(Path(sys.prefix).resolve().parent / ".deps")
    return out


def find_deps_dir() -> Path | None:
    """The first candidate ``.deps`` folder that holds the Vulkan ICD json, or None."""
    for cand in deps_candidates():
        if (cand / ICD_RELPATH).is_file():
            return cand
    return None


def configure() -> dict[str, str]:
    """Set the unset variables listed in the module docstring; return those it set (name -> value).

    Idempotent. Without an installed ``.deps`` only ``MS_SKIP_ASSET_DOWNLOAD_PROMPT`` is set, and
    making an env later fails with :func:`missing_vulkan_message`.
    """
    wanted = {"MS_SKIP_ASSET_DOWNLOAD_PROMPT": "1"}
    deps = find_deps_dir()
    if deps is not None:
        wanted["VK_ICD_FILENAMES"] = str(deps / ICD_RELPATH)
        wanted["MS_ASSET_DIR"] = str(deps / "maniskill_assets")
        wanted["MESA_SHADER_CACHE_DIR"] = str(deps.parent / ".cache" / "mesa_shader_cache")
    changed = {}
    for name, value in wanted.items():
        if not os.environ.get(name):
            os.environ[name] = value
            changed[name] = value
    return changed


def missing_vulkan_message(error: BaseException) -> str:
    """The error text shown when SAPIEN cannot create a CPU Vulkan device, with the fix to run."""
    searched = ", ".join(str(p / ICD_RELPATH) for p in deps_candidates())
    return (
        f"ManiSkill3/SAPIEN could not use a Vulkan device ({error}). On a CPU-only machine it needs "
        f"Mesa 25's lavapipe: run `{INSTALL_HINT}`, which unpacks it into <project>/.deps/vulkan. "
        f"VK_ICD_FILENAMES={os.environ.get('VK_ICD_FILENAMES', '<unset>')!s}; searched: {searched}."
    )
