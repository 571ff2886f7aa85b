"""DSRL throughput with a slow reward model: env steps/s with sync, async and deferred scoring.

    OMP_NUM_THREADS=1 python -m vlmreward_rl.algos.bench_dsrl [--model-ms 100 --env-ms 20 --every 4 --steps 400]

Trains DSRL-NA (CPU-sized nets: 256 wide, UTD 2) over an untrained diffusion policy (chunks of 4)
on PointReach slowed to ``env-ms`` per step (a rendering simulator), with a dense reward from the
oracle slowed to ``model-ms`` per call (a GPU forward pass), once per scoring mode, and prints env
steps/s including the learner's updates, relative to sync and to an instant model. Evaluation is
off, so the time is the training loop's.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass

import gymnasium as gym
import torch
import tyro

import vlmreward_gym as vrg
from vlmreward_rl.algos.diffusion_policy import DiffusionConfig, DiffusionPolicy
from vlmreward_rl.algos.dsrl import Args, train
from vlmreward_gym.bench import Slowed, SlowedModel
from vlmreward_gym.point_reach import PointReachEnv

ENV_ID, MODEL = "vlmreward-bench/SlowPointReach-v0", "slowed-oracle"


@dataclass(frozen=True)
class DSRLBenchArgs:
    model_ms: float = 100.0
    """reward-model latency per call"""
    env_ms: float = 20.0
    """env step latency"""
    every: int = 4
    """dense query period in env steps (4: once per chunk)"""
    num_envs: int = 2
    steps: int = 400
    """env steps per mode (the first quarter with the base policy, then learning)"""
    seed: int = 1


def register() -> None:
    if ENV_ID not in gym.registry:
        gym.register(ENV_ID, entry_point=lambda seconds=0.0, **kw: Slowed(PointReachEnv(**kw), seconds),
                     max_episode_steps=50)
    if MODEL not in vrg.list_reward_models():
        vrg.register_reward_model(MODEL, SlowedModel, origin="vlmreward_rl.algos.bench_dsrl")


def steps_per_second(bench: DSRLBenchArgs, scoring: str, model_ms: float, run_dir: str) -> float:
    torch.manual_seed(0)
    policy = DiffusionPolicy(DiffusionConfig(obs_dim=4, act_dim=2, chunk_size=4, hidden=128))
    args = Args(env_id=ENV_ID, env_kwargs={"seconds": bench.env_ms / 1000}, model=MODEL,
                model_kwargs={"seconds": model_ms / 1000}, form="dense",
                reward_kwargs={"every": bench.every, "relative": True, "scoring": scoring}, instruction="reach",
                variant="na", seed=bench.seed, total_timesteps=bench.steps, learning_starts=bench.steps // 4,
                num_envs=bench.num_envs, hidden=256, utd=2, noise_critic_updates=1, batch_size=128,
                eval_every=0, eval_episodes=0, log_every=bench.steps, run_dir=run_dir, tensorboard=False,
                progress_bar=False)
    result = train(args, policy)
    return result.global_step / result.seconds


def main(argv: list[str] | None = None) -> dict[str, float]:
    bench = tyro.cli(DSRLBenchArgs, args=argv)
    register()
    with tempfile.TemporaryDirectory() as run_dir:
        results = {"instant": steps_per_second(bench, "sync", 0.0, run_dir)}
        for mode in ("sync", "async", "deferred"):
            results[mode] = steps_per_second(bench, mode, bench.model_ms, run_dir)
    print(f"DSRL-NA, {bench.num_envs} PointReach envs at {bench.env_ms:.0f} ms/step, chunks of 4, dense query every "
          f"{bench.every} steps, reward model {bench.model_ms:.0f} ms/call, {bench.steps} env steps per mode")
    print(f"{'scoring':<10} {'env steps/s':>12} {'vs sync':>8} {'vs instant':>11}")
    for mode, sps in results.items():
        print(f"{mode:<10} {sps:>12.1f} {sps / results['sync']:>8.2f} {sps / results['instant']:>11.2f}")
    return results


if __name__ == "__main__":
    main()
