"""The algorithm records: looked up by the exact type of a config, under the names stored in trial results, with
the resources, inputs and per-task folders each declares."""

from dataclasses import dataclass
from pathlib import Path

import pytest

from vlmreward_rl.algos import dsrl, filtered_bc, ppo_gae
from vlmreward_rl.algos.common.records import Inputs, Resources
from vlmreward_rl.algos.registry import ALGORITHMS, algorithm_for


def test_each_config_type_finds_its_record_under_the_name_trial_results_store():
    configs = {"ppo": ppo_gae.Args(), "initial-policy": ppo_gae.InitialPolicy(ppo_gae.Args()), "dsrl": dsrl.Args(),
               "filtered-bc": filtered_bc.Args()}
    assert set(ALGORITHMS) == set(configs)  # renaming one makes every finished trial of it stale
    for name, config in configs.items():
        assert algorithm_for(config) is ALGORITHMS[name] and ALGORITHMS[name].name == name


def test_a_config_of_no_registered_algorithm_is_refused():
    @dataclass(frozen=True)
    class Subclass(ppo_gae.Args):
        pass

    for config in (Subclass(), {"env_id": "x"}):
        with pytest.raises(TypeError, match="no algorithm takes"):
            algorithm_for(config)


def test_resources_inputs_titles_and_task_folders():
    cuda = {"device": "cuda:0"}
    assert algorithm_for(ppo_gae.Args()).resources(ppo_gae.Args()) == Resources(1.0, 0.0)
    async_ppo = ppo_gae.Args(vectorization="async", num_envs=4, model_kwargs=cuda)
    assert algorithm_for(async_ppo).resources(async_ppo) == Resources(5.0, 1.0)  # a process per sub-env, + learner
    initial = ppo_gae.InitialPolicy(async_ppo)
    assert algorithm_for(initial).resources(initial) == Resources(5.0, 1.0)  # as the PPO run it stands for
    assert ALGORITHMS["dsrl"].resources(dsrl.Args(model_kwargs=cuda)) == Resources(1.0, 1.0)

    assert ALGORITHMS["ppo"].inputs(ppo_gae.Args()) == Inputs()
    assert ALGORITHMS["dsrl"].inputs(dsrl.Args(policy="p")) == Inputs(policy="p")
    assert ALGORITHMS["filtered-bc"].inputs(filtered_bc.Args(demos="d")) == Inputs(demos="d")
    assert ALGORITHMS["filtered-bc"].inputs(filtered_bc.Args(demos="d", policy="p")) == Inputs("d", "p")

    assert [ALGORITHMS["ppo"].title(ppo_gae.Args()), ALGORITHMS["dsrl"].title(dsrl.Args(variant="sac"))] == [
        "PPO", "DSRL-SAC"]
    assert ALGORITHMS["dsrl"].task_paths == ("policy",) and ALGORITHMS["ppo"].task_paths == ()
    # PPO's studies add a "before RL" row of its untrained policy; DSRL runs measure their base policy themselves
    assert ALGORITHMS["ppo"].initial_policy(ppo_gae.Args(seed=3)) == ppo_gae.InitialPolicy(ppo_gae.Args(seed=3))
    assert ALGORITHMS["dsrl"].initial_policy is None


def test_quiet_logging_into_a_study_folder():
    moved = ALGORITHMS["initial-policy"].with_run_dir(ppo_gae.InitialPolicy(ppo_gae.Args()), "/study/runs/k")
    assert (moved.args.run_dir, moved.args.tensorboard, moved.args.progress_bar) == ("/study/runs/k", False, False)
    fbc = ALGORITHMS["filtered-bc"].with_run_dir(filtered_bc.Args(), Path("/study/runs/k"))  # no progress bar
    assert (fbc.run_dir, fbc.tensorboard) == ("/study/runs/k", False)
