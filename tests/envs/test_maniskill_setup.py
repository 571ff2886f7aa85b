"""Environment-variable discovery for ManiSkill3 (no simulator import needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from vlmreward_rl.envs import maniskill_setup

VARS = ("VK_ICD_FILENAMES", "MS_ASSET_DIR", "MS_SKIP_ASSET_DOWNLOAD_PROMPT", "MESA_SHADER_CACHE_DIR")


@pytest.fixture
def fake_deps(tmp_path, monkeypatch):
    """A .deps folder with an ICD json, named by VLMREWARD_DEPS_DIR, and the variables unset."""
    deps = tmp_path / "proj" / ".deps"
    (deps / "vulkan").mkdir(parents=True)
    (deps / "vulkan" / "lvp_icd.json").write_text("{}")
    for name in VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(maniskill_setup.DEPS_ENV, str(deps))
    return deps


def test_configure_finds_project_deps(fake_deps):
    changed = maniskill_setup.configure()
    import os

    assert os.environ["VK_ICD_FILENAMES"] == str(fake_deps / "vulkan" / "lvp_icd.json")
    assert os.environ["MS_ASSET_DIR"] == str(fake_deps / "maniskill_assets")
    assert os.environ["MS_SKIP_ASSET_DOWNLOAD_PROMPT"] == "1"
    assert os.environ["MESA_SHADER_CACHE_DIR"] == str(fake_deps.parent / ".cache" / "mesa_shader_cache")
    assert set(changed) == set(VARS)
    assert maniskill_setup.configure() == {}  # idempotent


def test_explicit_variables_win(fake_deps, monkeypatch):
    monkeypatch.setenv("VK_ICD_FILENAMES", "/opt/my_icd.json")
    monkeypatch.setenv("MS_ASSET_DIR", "/data/maniskill")
    changed = maniskill_setup.configure()
    import os

    assert os.environ["VK_ICD_FILENAMES"] == "/opt/my_icd.json"
    assert os.environ["MS_ASSET_DIR"] == "/data/maniskill"
    assert "VK_ICD_FILENAMES" not in changed and "MS_ASSET_DIR" not in changed


def test_checkout_deps_is_a_candidate():
    checkout_deps = Path(maniskill_setup.__file__).resolve().parents[1] / ".deps"
    assert checkout_deps in maniskill_setup.deps_candidates()


def test_missing_driver_message_names_the_fix(tmp_path, monkeypatch):
    monkeypatch.setenv(maniskill_setup.DEPS_ENV, str(tmp_path / "nowhere"))
    message = maniskill_setup.missing_vulkan_message(RuntimeError("Failed to find a supported physical device"))
    assert "scripts/install_maniskill.sh" in message
    assert str(tmp_path / "nowhere" / "vulkan" / "lvp_icd.json") in message
