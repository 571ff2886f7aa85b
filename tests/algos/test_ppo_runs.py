"""PPO run management: run names that identify the reward settings, config.json, and resumes that check the config."""

import json

import pytest

import vlmreward_rl.algos.ppo_gae as ppo
from vlmreward_rl.algos.common.checkpoint import CheckpointError

INSTRUCTION = "move the red dot onto the green dot"


def tiny(tmp_path, **changes) -> ppo.Args:
    """One 128-step iteration on PointReach, evaluated on 2 episodes."""
    return ppo.Args(**{**dict(model="noisy-oracle", model_kwargs={"mae": 0.5}, instruction=INSTRUCTION,
                              total_timesteps=128, num_envs=2, num_steps=64, update_epochs=1, eval_episodes=2,
                              num_eval_envs=2, run_dir=str(tmp_path), tensorboard=False, progress_bar=False),
                       **changes})


def test_run_names_identify_the_reward_settings(tmp_path):
    a, b = tiny(tmp_path), tiny(tmp_path, model_kwargs={"mae": 1.0})
    assert a.run_name == "PointReach-v0__ppo__noisy-oracle-dense-mae=0.5__s1" != b.run_name
    relative = tiny(tmp_path, model_kwargs={"seed": 2, "mae": 0.5}, reward_kwargs={"relative": True})
    assert relative.run_name == "PointReach-v0__ppo__noisy-oracle-dense-mae=0.5-seed=2-relative=true__s1"
    path = tiny(tmp_path, model="sim-rm", model_kwargs={"path": "ckpt/sim-rm"}).run_name
    assert "/" not in path and "path=ckpt_sim_rm" in path


def test_a_run_writes_its_config_and_a_resume_with_another_config_is_refused(tmp_path, capsys):
    first = tiny(tmp_path)
    ppo.train(first)
    run = first.run_path
    assert json.loads((run / "config.json").read_text())["model_kwargs"] == {"mae": 0.5}
    files = {p.name: p.read_bytes() for p in run.iterdir()}

    other = tiny(tmp_path, model_kwargs={"mae": 1.0}, reward_kwargs={"every": 2}, resume=str(run / "checkpoint.pt"))
    with pytest.raises(CheckpointError, match=r"model_kwargs: \{'mae': 0.5\} in the checkpoint, \{'mae': 1.0\} now; "
                                              r"reward_kwargs: \{\} in the checkpoint, \{'every': 2\} now"):
        ppo.train(other)
    assert {p.name: p.read_bytes() for p in run.iterdir()} == files  # the refused resume changed nothing
    assert not other.run_path.exists()

    capsys.readouterr()
    result = ppo.train(tiny(tmp_path, total_timesteps=256, resume="auto"))  # a longer budget: resumable
    assert f"resuming {run} from {run / 'checkpoint.pt'}: step 128 of 256 (iteration 1 of 2)" in capsys.readouterr().out
    assert result.global_step == 256


def test_the_progress_bar_shows_a_dash_until_there_is_a_success_rate(tmp_path, capsys):
    ppo.train(tiny(tmp_path, total_timesteps=16, num_steps=8, eval_every=0, progress_bar=True))
    err = capsys.readouterr().err
    assert "success=-" in err and "nan" not in err
