"""``vlmreward train dsrl-<preset> [--option value ...]``: DSRL over a BC-pretrained diffusion policy.

    vlmreward train dsrl-pointreach            # demos -> BC (weak on purpose) -> DSRL-NA, oracle dense reward
    vlmreward train dsrl-pointreach-noisy      # the same with the noisy-oracle at MAE 0.5
    vlmreward train dsrl-lift --policy DIR     # the paper's Robomimic Lift settings (needs a GPU-sized budget)
    vlmreward train dsrl-lift-cpu --policy DIR # Lift sized for a 2-core CPU

A preset is an :class:`algos.dsrl.Args`. For the PointReach presets, a missing ``--policy`` folder
is created first: a few noisy goal-seeking demos (:func:`pointreach_demos`) and a short BC run,
which leave the base policy well below 100 % success. ``summary.json`` in the run dir holds the
success before (base policy, N(0, I) noise) and after (deterministic noise actor), env steps and minutes.
"""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import tyro

from algos import dsrl
from algos.dsrl import Args

POINTREACH = "move the red dot onto the green dot"
LIFT = "lift the red cube"

# Table 5-6 of RoboReward (Wagenmaker et al. 2025's Robomimic settings); Lift uses UTD 30.
PAPER = Args(variant="na", action_magnitude=1.5, utd=20, noise_critic_updates=10, hidden=2048, layers=3,
             batch_size=256, learning_rate=3e-4, tau=0.005, gamma=0.99, target_entropy=0.0, learning_starts=2_000,
             total_timesteps=50_000)
_LIFT = replace(PAPER, env_id="vlmreward/Lift-v1", policy="runs/bc/lift", model="oracle", form="dense",
                instruction=LIFT, utd=30)
_CPU = dict(hidden=256, utd=2, noise_critic_updates=1, batch_size=128, learning_starts=1_000)
_POINTREACH = replace(PAPER, env_id="vlmreward/PointReach-v0", policy="runs/bc/pointreach", model="oracle",
                      form="dense", reward_kwargs={"relative": True}, instruction=POINTREACH,
                      total_timesteps=6_000, eval_every=1_000, eval_episodes=30, log_every=500, **_CPU)

PRESETS: dict[str, tuple[str, Args]] = {
    "dsrl-lift": ("DSRL-NA on Robomimic Lift with the paper's settings (2048-wide nets, UTD 30), oracle dense "
                  "reward; 50k env steps.", _LIFT),
    "dsrl-lift-cpu": ("DSRL-NA on Lift sized for a 2-core CPU (256-wide nets, UTD 2).", replace(_LIFT, **_CPU)),
    "dsrl-lift-sac": ("DSRL-SAC on Lift with the paper's settings.", replace(_LIFT, variant="sac")),
    "dsrl-pointreach": ("DSRL-NA on PointReach over a weak BC policy, oracle potential-based dense reward "
                        "(a few minutes on a CPU).", _POINTREACH),
    "dsrl-pointreach-noisy": ("dsrl-pointreach with the noisy-oracle at MAE 0.5.",
                              replace(_POINTREACH, model="noisy-oracle", model_kwargs={"mae": 0.5})),
    "dsrl-pointreach-sac": ("dsrl-pointreach with DSRL-SAC.", replace(_POINTREACH, variant="sac")),
}


def pointreach_demos(out_dir: str | Path, episodes: int = 5, noise: float = 1.0, seed: int = 0) -> Path:
    """``episodes`` demos of PointReach's goal-seeking controller with Gaussian action noise of std
    ``noise`` (kind ``noisy``), in the shared dataset format."""
    import gymnasium as gym

    import vlmreward_gym  # noqa: F401  (registers PointReach)
    from envs.dataset import Trajectory, write_trajectories

    env = gym.make("vlmreward/PointReach-v0")
    speed = env.unwrapped.max_speed
    rng = np.random.default_rng(seed)
    trajectories = []
    for s in range(seed, seed + episodes):
        obs, info = env.reset(seed=s)
        observations, actions, rewards = [obs], [], []
        progress, success = [info["oracle_progress"]], [info["success"]]
        done = False
        while not done:
            action = np.clip((obs[2:] - obs[:2]) / speed + rng.normal(0.0, noise, 2), -1.0, 1.0)
            obs, reward, terminated, truncated, info = env.step(action)
            observations.append(obs), actions.append(action), rewards.append(reward)
            progress.append(info["oracle_progress"]), success.append(info["success"])
            done = terminated or truncated
        trajectories.append(Trajectory(env_id="vlmreward/PointReach-v0", instruction=POINTREACH, kind="noisy", seed=s,
                                       obs=np.array(observations), actions=np.array(actions),
                                       env_rewards=np.array(rewards), oracle_progress=np.array(progress),
                                       success=np.array(success)))
    env.close()
    return write_trajectories(out_dir, trajectories, metadata={"env_id": "vlmreward/PointReach-v0", "noise": noise})


def ensure_pointreach_policy(path: str | Path, bc_steps: int = 1_000) -> Path:
    """Create the weak PointReach base policy at ``path`` unless it exists: 5 noisy demos, short BC."""
    from algos import diffusion_policy

    path = Path(path)
    if not (path / diffusion_policy.WEIGHTS_FILE).exists():
        demos = pointreach_demos(path.parent / f"{path.name}_demos")
        diffusion_policy.main(["--demos", str(demos), "--out", str(path), "--kinds", "noisy",
                               "--steps", str(bc_steps)])
    return path


def ensure_policy(env_id: str, path: str | Path) -> Path:
    """The base policy DSRL steers: created for PointReach when missing, else it must exist."""
    from algos import diffusion_policy

    if env_id == "vlmreward/PointReach-v0":
        return ensure_pointreach_policy(path)
    if not (Path(path) / diffusion_policy.WEIGHTS_FILE).exists():
        task = env_id.split("/")[-1].removesuffix("-v1")
        raise FileNotFoundError(f"no diffusion policy at {path} for {env_id}; make one with `vlmreward demos --env "
                                f"{task} -n 50 --out data/{task.lower()}` and `vlmreward bc --demos data/"
                                f"{task.lower()} --out {path}`")
    return Path(path)


def ensure_demos(env_id: str, path: str | Path) -> Path:
    """BC demos: PointReach's weak noisy demos (:func:`pointreach_demos`) are written when missing;
    for any other env the dataset must exist."""
    path = Path(path)
    if not (path / "metadata.json").exists():
        if env_id != "vlmreward/PointReach-v0":
            task = env_id.split("/")[-1].removesuffix("-v1")
            raise FileNotFoundError(f"no demos at {path} for {env_id}; make them with `vlmreward demos --env {task} "
                                    f"-n 50 --out {path}`")
        pointreach_demos(path)
    return path


def summarize(args: Args, result: dsrl.TrainResult) -> dict[str, Any]:
    return {"env_id": args.env_id, "variant": args.variant, "model": args.model, "model_kwargs": args.model_kwargs,
            "form": args.form, "env_steps": result.global_step, "minutes": round(result.seconds / 60, 2),
            "success_before": result.base.get("base/success_rate"),
            "success_after": result.eval.get("eval/success_rate"),
            "eval_history": [(r["global_step"], r["eval/success_rate"]) for r in result.history
                             if "eval/success_rate" in r]}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = tyro.extras.overridable_config_cli(PRESETS, args=argv)
    ensure_policy(args.env_id, args.policy)
    result = dsrl.train(args)
    summary = summarize(args, result)
    (result.run_path / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
