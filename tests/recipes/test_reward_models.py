"""The shipped-reward-model recipe end to end on a tiny budget (Robomimic Lift, two kinds, a few steps):
data -> train -> quality table (minimum over seeds) -> install; a killed step is not redone."""

from __future__ import annotations

import dataclasses

import pytest

pytest.importorskip("robosuite", reason="needs the robomimic extra (bash scripts/install_robomimic.sh VENV)")
pytest.importorskip("torch", reason="needs the 'torch' extra")

from vlmreward_rl.recipes import reward_models as R  # noqa: E402

TINY = ("-n", "2", "--non-expert", "1", "--kinds", "near_miss", "--frame-size", "32", "--frame-stride", "4")


@pytest.fixture()
def tiny(monkeypatch):
    r = dataclasses.replace(R.RECIPES["sim-rm-robomimic"], tasks=("Lift",), train_demos=TINY, eval_demos=TINY,
                            steps=4)
    monkeypatch.setitem(R.RECIPES, r.name, r)
    return r


def test_recipe_builds_trains_measures_and_resumes(tiny, tmp_path, monkeypatch):
    root = tmp_path / "rm"
    table = R.main(["quality", tiny.name, "--root", str(root), "--seeds", "0", "1"])
    for split in ("train", "eval"):
        assert (root / "data" / split / "Lift" / "metadata.json").is_file()
    assert {p.name for p in (root / "ckpt").iterdir()} == {"full-s0", "full-s1"}
    lines = table.splitlines()
    assert lines[0].startswith("| run | voc_expert_pearson") and len(lines) == 2 + 2 + 2  # header, 2 seeds, worst, bar
    worst = lines[-2].split("|")[2:-1]
    seeds = [line.split("|")[2:-1] for line in lines[2:4]]
    for col, key in enumerate(R.BARS):  # the worst row is the minimum (maximum for the false-success rate)
        values = [float(s[col]) for s in seeds if s[col].strip() != "n/a"]
        if values:
            expected = max(values) if R.BARS[key][0] == "<=" else min(values)
            assert float(worst[col]) == pytest.approx(expected, abs=1e-3)
    assert (root / "quality.md").read_text().strip() == table
    # resumes: nothing is retrained or regenerated
    monkeypatch.setattr(R, "demos_main", lambda argv: pytest.fail(f"regenerated {argv}"))
    import vlmreward_gym.rm.train as train_module

    monkeypatch.setattr(train_module, "train", lambda cfg: pytest.fail("retrained"))
    assert R.main(["quality", tiny.name, "--root", str(root), "--seeds", "0", "1"]) == table


def test_failure_kinds_of_a_recipe_come_from_its_tasks():
    assert set(R.RECIPES["sim-rm-robomimic"].failure_kinds()) == {"wrong_target", "near_miss", "drop", "shortcut",
                                                                   "stop_short", "knock"}
    with pytest.raises(SystemExit, match="unknown shipped"):
        R.recipe("sim-rm-nothing")
