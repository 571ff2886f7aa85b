"""DSRL throughput: env steps/s with sync, async and deferred scoring; or, with ``--task``, the learner on a real task.

    OMP_NUM_THREADS=1 python -m vlmreward_rl.algos.bench_dsrl [--model-ms 100 --env-ms 20 --every 4 --steps 400]
    OMP_NUM_THREADS=1 python -m vlmreward_rl.algos.bench_dsrl --task Lift [--measured-steps 1500]

Scoring modes (the default): trains DSRL-NA (CPU-sized nets: 256 wide, UTD 2) over an untrained diffusion policy
(chunks of 4) on PointReach slowed to ``env-ms`` per step (a rendering simulator), with a dense reward from the
oracle slowed to ``model-ms`` per call (a GPU forward pass), once per scoring mode, and prints env steps/s
including the learner's updates, relative to sync and to an instant model. Evaluation is off, so the time is the
training loop's.

``--task`` (any Robomimic or ManiSkill task of :mod:`vlmreward_rl.envs.tasks`): the ``dsrl-lift-cpu`` preset's
settings (:func:`cpu_args`: 256-wide nets, UTD 1, 1 Q^W step, batch 128, 100-step episodes, the oracle's
potential-based dense reward) over an untrained diffusion policy of the BC defaults (its decode costs what a
trained one's does). Prints the task's raw env steps/s (random actions, the same reward wrapper), the learner's
time per round (JAX, one compiled call) against a torch eager reference of the same nets and updates
(:func:`torch_round_ms`), DSRL-NA's training env steps/s with the env stepped sequentially and beside the learner
(``async_env``), measured over ``measured-steps`` env steps after the warm-up and the compiles, the load average it
ran under, and last the ratio of training to raw env steps/s (of the preset's mode). ``--utd`` and
``--noise-critic-updates`` measure another round size.
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass, replace

import gymnasium as gym
import numpy as np
import torch
import tyro

import vlmreward_gym as vrg
from vlmreward_rl.algos.diffusion_policy import DDIMSchedule, DiffusionConfig, DiffusionPolicy
from vlmreward_rl.algos.dsrl import Args, make_runner, train
from vlmreward_rl.algos.dsrl_agent import DSRLAgent
from vlmreward_rl.envs.tasks import task as task_record
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
    task: str | None = None
    """a Robomimic / ManiSkill task (e.g. Lift): benchmark DSRL-NA there at the dsrl-lift-cpu settings instead"""
    measured_steps: int = 1_500
    """--task: training env steps measured, after the warm-up and the first rounds (compiles)"""
    raw_steps: int = 300
    """--task: env steps of random actions for the raw env speed"""
    utd: int | None = None
    """--task: gradient steps a round (default: the dsrl-lift-cpu preset's)"""
    noise_critic_updates: int | None = None
    """--task: Q^W distillation steps a round (default: the dsrl-lift-cpu preset's)"""


def register() -> None:
    if ENV_ID not in gym.registry:
        gym.register(ENV_ID, entry_point=lambda seconds=0.0, **kw: Slowed(PointReachEnv(**kw), seconds),
                     max_episode_steps=50)
    if MODEL not in vrg.list_reward_models():
        vrg.register_reward_model(MODEL, SlowedModel, origin="vlmreward_rl.algos.bench_dsrl")


def steps_per_second(bench: DSRLBenchArgs, scoring: str, model_ms: float, run_dir: str) -> float:
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


def cpu_args(task: str, **changes) -> Args:
    """The ``dsrl-lift-cpu`` preset's env and learner settings on ``task`` (tests/algos check them against the preset,
    which lives above this module, in vlmreward_rl.recipes.dsrl)."""
    record = task_record(task)
    args = Args(env_id=record.env_id, instruction=record.instruction, model="oracle", form="dense",
                reward_kwargs={"relative": True}, env_kwargs={"horizon": 100}, variant="na", hidden=256, layers=3,
                utd=1, noise_critic_updates=1, batch_size=128, action_magnitude=1.5, learning_rate=3e-4,
                actor_learning_rate=1e-4, init_temperature=1e-3, target_entropy=0.0, gamma=0.99, tau=0.005)
    return replace(args, **changes)


def raw_env_steps_per_second(args: Args, policy: DiffusionPolicy, steps: int) -> float:
    """Env steps/s of uniformly random actions in the env ``args`` trains in (its reward model and form)."""
    runner = make_runner(args, policy)
    envs, rng = runner.envs, np.random.default_rng(args.seed)
    envs.reset(seed=args.seed)
    envs.step(rng.uniform(envs.action_space.low, envs.action_space.high).astype(envs.action_space.dtype))
    start = time.perf_counter()
    for _ in range(steps):
        _, _, terminated, truncated, _ = envs.step(
            rng.uniform(envs.action_space.low, envs.action_space.high).astype(envs.action_space.dtype))
        if (done := terminated | truncated).any():
            envs.reset(options={"reset_mask": done})
    seconds = time.perf_counter() - start
    runner.close()
    return steps / seconds


def training_steps_per_second(args: Args, policy: DiffusionPolicy, measured: int, run_dir: str) -> float:
    """DSRL's env steps/s over the last ``measured`` env steps of a run whose first ``args.learning_starts`` + 250
    steps (the base policy's warm-up, the critic warm-up and the first rounds' compiles) are not counted; from the
    cumulative speed logged every 50 steps (``charts/SPS``)."""
    skip = args.learning_starts + 250
    result = train(replace(args, total_timesteps=skip + measured, log_every=50, eval_every=0, eval_episodes=0,
                           eval_base=False, run_dir=run_dir, tensorboard=False, progress_bar=False), policy)
    seconds = {row["global_step"]: row["global_step"] / row["charts/SPS"] for row in result.history if "charts/SPS" in row}
    start, end = min(step for step in seconds if step >= skip), max(seconds)
    return (end - start) / (seconds[end] - seconds[start])


def _batches(args: Args, obs_dim: int, noise_dim: int, steps: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    f = lambda *shape: rng.standard_normal((steps, args.batch_size, *shape)).astype(np.float32)  # noqa: E731
    return {"obs": f(obs_dim), "next_obs": f(obs_dim), "noise": f(noise_dim), "chunk": f(noise_dim),
            "reward": f(), "done": np.zeros((steps, args.batch_size), np.float32)}


def jax_round_ms(args: Args, policy: DiffusionPolicy, obs_dim: int, rounds: int = 10) -> float:
    """Milliseconds of one compiled round (``utd`` gradient steps and ``noise_critic_updates`` Q^W steps)."""
    agent = DSRLAgent(args, obs_dim, policy)
    batches = _batches(args, obs_dim, agent.noise_dim, args.utd)
    distill = batches["obs"][:args.noise_critic_updates]
    agent.update(batches, distill)  # compile
    start = time.perf_counter()
    for _ in range(rounds):
        agent.update(batches, distill)
    return 1000 * (time.perf_counter() - start) / rounds


def torch_round_ms(args: Args, config: DiffusionConfig, rounds: int = 5) -> float:
    """Milliseconds of the same round in eager torch (one thread): the reference the JAX learner replaced, written
    here only to compare (Linear-LayerNorm-Tanh nets, twin critics and noise critics, Adam, DDIM through a Mish MLP)."""
    nn, obs_dim, noise_dim = torch.nn, config.obs_dim, config.flat_dim

    def mlp(d_in: int, d_out: int, hidden: int = args.hidden, norm: bool = True, act=nn.Tanh) -> nn.Sequential:
        layers = []
        for d in [d_in] + [hidden] * (args.layers - 1):
            layers += [nn.Linear(d, hidden), *([nn.LayerNorm(hidden)] if norm else []), act()]
        return nn.Sequential(*layers, nn.Linear(hidden, d_out))

    torch.set_num_threads(1)
    actor = mlp(obs_dim, 2 * noise_dim)
    critic, target, noise_critic = ([mlp(obs_dim + noise_dim, 1) for _ in range(2)] for _ in range(3))
    denoiser = mlp(noise_dim + obs_dim + config.time_dim, noise_dim, config.hidden, norm=False, act=nn.Mish)
    params = lambda nets: [p for net in nets for p in net.parameters()]  # noqa: E731
    log_alpha = torch.zeros((), requires_grad=True)
    opts = [torch.optim.Adam(ps, lr=3e-4) for ps in (params([actor]), params(critic), params(noise_critic), [log_alpha])]
    schedule = DDIMSchedule.of(config)
    freqs = torch.exp(-np.log(10_000.0) * torch.arange(config.time_dim // 2) / (config.time_dim // 2))

    def sample(obs):
        mean, log_std = actor(obs).chunk(2, -1)
        std = (-5.0 + 3.5 * (torch.tanh(log_std) + 1.0)).exp()
        u = mean + std * torch.randn_like(mean)
        logp = (torch.distributions.Normal(mean, std).log_prob(u) - torch.log(1 - torch.tanh(u) ** 2 + 1e-6)).sum(-1)
        return 1.5 * torch.tanh(u), logp

    def decode(obs, x):
        for t, a, a_prev in zip(schedule.timesteps, schedule.alpha, schedule.alpha_prev):
            angles = torch.full((len(x), 1), float(t)) * freqs[None]
            eps = denoiser(torch.cat([x, obs, angles.sin(), angles.cos()], -1))
            x0 = ((x - (1 - a) ** 0.5 * eps) / a ** 0.5).clamp(-1, 1)
            x = a_prev ** 0.5 * x0 + (1 - a_prev) ** 0.5 * eps
        return x.clamp(-1, 1)

    q = lambda nets, obs, x: torch.stack([n(torch.cat([obs, x], -1)).squeeze(-1) for n in nets])  # noqa: E731

    def step(opt, loss):
        opt.zero_grad()
        loss.backward()
        opt.step()

    def one_round(b):
        for i in range(args.utd):
            obs, next_obs = b["obs"][i], b["next_obs"][i]
            alpha = log_alpha.exp().detach()
            noise, logp = sample(obs)
            step(opts[3], -(log_alpha * (logp.detach() + 0.0)).mean())
            with torch.no_grad():
                next_noise, next_logp = sample(next_obs)
                y = b["reward"][i] + 0.99 * (q(target, next_obs, decode(next_obs, next_noise)).min(0).values
                                             - alpha * next_logp)
            step(opts[1], ((q(critic, obs, b["chunk"][i]) - y) ** 2).mean(1).sum())
            with torch.no_grad():
                for t, s in zip(params(target), params(critic)):
                    t.lerp_(s, 0.005)
            step(opts[0], (alpha * logp - q(noise_critic, obs, noise / 1.5).min(0).values).mean())
        for i in range(args.noise_critic_updates):
            obs, w = b["obs"][i], torch.randn(args.batch_size, noise_dim)
            with torch.no_grad():
                y = q(critic, obs, decode(obs, w))
            step(opts[2], ((q(noise_critic, obs, w / 1.5) - y) ** 2).mean(1).sum())

    batches = {k: torch.as_tensor(v) for k, v in _batches(args, obs_dim, noise_dim, args.utd).items()}
    one_round(batches)
    start = time.perf_counter()
    for _ in range(rounds):
        one_round(batches)
    return 1000 * (time.perf_counter() - start) / rounds


def task_args(bench: DSRLBenchArgs) -> Args:
    """:func:`cpu_args` on ``bench.task`` with a short warm-up (250 env steps, 10 critic updates) and the round size
    ``bench`` asks for (``utd``, ``noise_critic_updates``; the preset's where None)."""
    sizes = {"utd": bench.utd, "noise_critic_updates": bench.noise_critic_updates}
    return cpu_args(bench.task, seed=bench.seed, learning_starts=250, critic_warmup_updates=10,
                    **{k: v for k, v in sizes.items() if v is not None})


def task_bench(bench: DSRLBenchArgs) -> dict[str, float]:
    """The ``--task`` benchmark (module docstring); prints its lines and returns the numbers."""
    args = task_args(bench)
    probe = make_runner(args, DiffusionPolicy(DiffusionConfig(obs_dim=1, act_dim=1)))
    obs_dim, act_dim = int(np.prod(probe.envs.single_observation_space.shape)), probe.envs.single_action_space.shape[0]
    probe.close()
    config = DiffusionConfig(obs_dim=obs_dim, act_dim=act_dim)  # BC's defaults: chunks of 4, 3x256, 8 DDIM steps
    policy = DiffusionPolicy(config, seed=bench.seed)
    print(f"DSRL-NA on {args.env_id} at the dsrl-lift-cpu settings ({args.hidden}-wide nets, UTD {args.utd}, "
          f"{args.noise_critic_updates} Q^W steps, batch {args.batch_size}, {args.env_kwargs['horizon']}-step episodes, "
          f"oracle dense relative reward), untrained {config.hidden}x{config.layers} diffusion policy, "
          f"{config.inference_steps} DDIM steps", flush=True)
    results = {"raw": raw_env_steps_per_second(args, policy, bench.raw_steps)}
    print(f"raw env steps/s (random actions): {results['raw']:.1f}", flush=True)
    results["jax_round_ms"], results["torch_round_ms"] = jax_round_ms(args, policy, obs_dim), torch_round_ms(args, config)
    print(f"learner, one round ({args.utd} gradient steps + {args.noise_critic_updates} Q^W steps): JAX "
          f"{results['jax_round_ms']:.1f} ms, torch eager reference {results['torch_round_ms']:.1f} ms "
          f"({results['torch_round_ms'] / results['jax_round_ms']:.2f}x)", flush=True)
    with tempfile.TemporaryDirectory() as run_dir:
        for mode, async_env in (("sequential", False), ("async env", True)):
            results[mode] = training_steps_per_second(replace(args, async_env=async_env), policy, bench.measured_steps,
                                                      run_dir)
            print(f"training env steps/s, {mode} ({bench.measured_steps} env steps measured): {results[mode]:.1f} "
                  f"(/ raw {results[mode] / results['raw']:.2f})", flush=True)
    results["ratio"] = results["async env" if DEFAULT_ASYNC else "sequential"] / results["raw"]
    one_minute, five_minutes, _ = os.getloadavg()
    print(f"load average over the last 1 / 5 minutes: {one_minute:.2f} / {five_minutes:.2f} "
          f"(on {os.cpu_count()} cores)")
    print(f"training / raw env steps/s: {results['ratio']:.2f}")
    return results


DEFAULT_ASYNC = True
"""the dsrl-lift-cpu preset's ``async_env`` (the mode of the last line; checked against the preset in tests)"""


def main(argv: list[str] | None = None) -> dict[str, float]:
    bench = tyro.cli(DSRLBenchArgs, args=argv)
    if bench.task:
        return task_bench(bench)
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
