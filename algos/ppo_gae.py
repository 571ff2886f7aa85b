"""PPO with GAE for continuous actions on learned-reward Gymnasium vector envs (CleanRL style).

    python -m vlmreward_rl.algos.ppo_gae --env-id vlmreward/PointReach-v0 --model oracle --form dense \
        --instruction "move the red dot onto the green dot" --reward-kwargs relative=true

What learned rewards need and this file does:
- Time-outs are bootstrapped with the value of the episode's final observation; only
  ``terminated`` cuts the return (see :mod:`vlmreward_rl.algos.common.gae`). With the ``episodic`` form the
  whole episode's score is paid on its last step, so a time-out is final (``bootstrap_timeouts``).
- Gymnasium's NEXT_STEP autoreset spends one step per episode on the reset; those steps belong
  to no episode and are masked out of the loss, the advantages and the metrics.
- Rewards may arrive late (``--reward-kwargs scoring=async`` or ``scoring=deferred``): pending
  steps (NaN) are relabelled from the env's ``flush()`` before advantages and statistics are
  computed, so the simulator never waits for the reward model inside a rollout.
- Logged to TensorBoard (run ``<env>__ppo__<model>-<form>[-<options>]__s<seed>``, the options being the
  model's and the form's keyword options, e.g. ``mae=0.5-relative=true``): charts/ (learned and
  simulator returns, success rate, success-once), reward/ (mean learned reward, success
  precision/recall of the reward model, the false successes it paid with their counts, Pearson
  correlation with oracle progress: algos/common/fidelity.py), losses/,
  eval/ (deterministic policy), charts/SPS, charts/minutes (wall time, resumed runs included).
  Also ``metrics.jsonl``, ``config.json`` and ``checkpoint.pt`` in the run dir; resuming from a
  checkpoint made with another config is refused (``total_timesteps`` may grow).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
import torch.nn as nn
import tyro
from gymnasium.vector import AutoresetMode
from torch.distributions.normal import Normal
from tqdm.auto import tqdm

from vlmreward_rl.algos.common.checkpoint import check_same_config, load_checkpoint, rng_state, save_checkpoint, set_rng_state
from vlmreward_rl.algos.common.envs import RewardEnvArgs, make_vector_env
from vlmreward_rl.algos.common.fidelity import fidelity_pearson as reward_fidelity_pearson, run_fidelity
from vlmreward_rl.algos.common.gae import compute_gae
from vlmreward_rl.algos.common.late_rewards import by_key, late_rewards
from vlmreward_rl.algos.common.logger import RunLogger, read_metrics
from vlmreward_rl.algos.common.metrics import RolloutStats, fields_from_vector_info, run_name
from vlmreward_rl.algos.common.records import Algorithm, Resources, default_resources, log_quietly_to
from vlmreward_rl.algos.common.summaries import fidelity_line
from vlmreward_gym.models.base import RewardModel
from vlmreward_gym.options import format_kwargs

@dataclass(frozen=True)
class Args(RewardEnvArgs):
    vectorization: str = "sync"
    """sync (one process) or async (one spawned process per sub-env)"""
    autoreset_mode: str = "next_step"
    """next_step (reset steps are masked out) or same_step (time-outs bootstrap from info['final_obs'])"""
    train_on_env_reward: bool = False
    """baseline: optimise the simulator's own reward (info['env_reward']); the learned one is still logged"""

    # PPO
    seed: int = 1
    total_timesteps: int = 100_000
    num_envs: int = 8
    num_steps: int = 64
    """steps per env per rollout"""
    learning_rate: float = 3e-4
    anneal_lr: bool = True
    gamma: float = 0.99
    gae_lambda: float = 0.95
    num_minibatches: int = 4
    update_epochs: int = 10
    norm_adv: bool = True
    clip_coef: float = 0.2
    clip_vloss: bool = True
    ent_coef: float = 0.0
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5
    target_kl: float | None = None
    reward_scale: float = 1.0
    """learned rewards are multiplied by this before GAE"""
    norm_obs: bool = True
    """normalise observations by running mean and std (kept in the checkpoint)"""
    hidden: int = 64
    """width of the hidden layers of actor and critic"""
    layers: int = 2
    """number of hidden layers of actor and critic"""
    init_logstd: float = 0.0
    """initial log standard deviation of the Gaussian policy (ManiSkill's PPO: -0.5)"""

    # evaluation, logging, checkpoints
    eval_every: int = 10
    """evaluate the deterministic policy every this many iterations (0: only at the end)"""
    eval_episodes: int = 16
    num_eval_envs: int = 4
    run_dir: str = "runs"
    """runs are written to <run_dir>/<run_name>"""
    tensorboard: bool = True
    checkpoint_every: int = 10
    """save <run dir>/checkpoint.pt every this many iterations (0: only at the end)"""
    resume: str | None = None
    """checkpoint to resume from; 'auto': this run's checkpoint.pt if it exists"""
    progress_bar: bool = True
    torch_threads: int = 1

    @property
    def batch_size(self) -> int:
        return self.num_envs * self.num_steps

    @property
    def num_iterations(self) -> int:
        return max(1, self.total_timesteps // self.batch_size)

    @property
    def eval_every_steps(self) -> int:
        """Env steps between evaluations (``eval_every`` counts iterations)."""
        return self.eval_every * self.batch_size

    @property
    def run_name(self) -> str:
        return run_name(self.env_id, "ppo", self.model, self.form, self.seed, self.model_kwargs, self.reward_kwargs)

    @property
    def run_path(self) -> Path:
        return Path(self.run_dir) / self.run_name

    @property
    def bootstraps_timeouts(self) -> bool:
        if self.bootstrap_timeouts is not None:
            return self.bootstrap_timeouts
        return self.form != "episodic"


def layer_init(layer: nn.Linear, std: float = math.sqrt(2), bias: float = 0.0) -> nn.Linear:
    nn.init.orthogonal_(layer.weight, std)
    nn.init.constant_(layer.bias, bias)
    return layer


class RunningNorm(nn.Module):
    """Observation normaliser: running mean and variance (Chan's parallel update), clipped to +-10."""

    def __init__(self, dim: int, enabled: bool = True):
        super().__init__()
        self.enabled = enabled
        self.register_buffer("mean", torch.zeros(dim, dtype=torch.float64))
        self.register_buffer("var", torch.ones(dim, dtype=torch.float64))
        self.register_buffer("count", torch.tensor(1e-4, dtype=torch.float64))

    @torch.no_grad()
    def update(self, x: torch.Tensor) -> None:
        if not self.enabled or len(x) == 0:
            return
        x = x.double()
        batch_mean, batch_var, n = x.mean(0), x.var(0, unbiased=False), x.shape[0]
        delta, total = batch_mean - self.mean, self.count + n
        self.mean += delta * n / total
        self.var.copy_((self.var * self.count + batch_var * n + delta**2 * self.count * n / total) / total)
        self.count.fill_(total)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.enabled:
            return x
        return ((x - self.mean.float()) / torch.sqrt(self.var.float() + 1e-8)).clamp(-10.0, 10.0)


def tanh_mlp(in_dim: int, out_dim: int, hidden: int, layers: int, out_std: float) -> nn.Sequential:
    """``layers`` tanh hidden layers of width ``hidden``, then a linear output with init std ``out_std``."""
    modules: list[nn.Module] = []
    for i in range(layers):
        modules += [layer_init(nn.Linear(in_dim if i == 0 else hidden, hidden)), nn.Tanh()]
    modules.append(layer_init(nn.Linear(hidden if layers else in_dim, out_dim), std=out_std))
    return nn.Sequential(*modules)


class Agent(nn.Module):
    """Gaussian policy (state-independent log std) and value function, ``layers`` tanh layers each."""

    def __init__(self, obs_dim: int, act_dim: int, hidden: int = 64, norm_obs: bool = True, layers: int = 2,
                 init_logstd: float = 0.0):
        super().__init__()
        self.obs_norm = RunningNorm(obs_dim, norm_obs)
        self.critic = tanh_mlp(obs_dim, 1, hidden, layers, out_std=1.0)
        self.actor_mean = tanh_mlp(obs_dim, act_dim, hidden, layers, out_std=0.01)
        self.actor_logstd = nn.Parameter(torch.full((1, act_dim), float(init_logstd)))

    def get_value(self, obs: torch.Tensor) -> torch.Tensor:
        """V(obs), shape (B,)."""
        return self.critic(self.obs_norm(obs)).squeeze(-1)

    def get_action_and_value(self, obs: torch.Tensor, action: torch.Tensor | None = None):
        """``(action, log prob, entropy, value)``; samples an action if none is given."""
        x = self.obs_norm(obs)
        mean = self.actor_mean(x)
        dist = Normal(mean, self.actor_logstd.expand_as(mean).exp())
        if action is None:
            action = dist.sample()
        return action, dist.log_prob(action).sum(-1), dist.entropy().sum(-1), self.critic(x).squeeze(-1)

    def act(self, obs: torch.Tensor) -> torch.Tensor:
        """The deterministic (mean) action."""
        return self.actor_mean(self.obs_norm(obs))


@dataclass
class TrainResult:
    """What :func:`train` returns: the run dir, the steps taken, the last window's and the final eval's metrics."""

    run_path: Path
    global_step: int
    seconds: float
    train: dict[str, float]
    eval: dict[str, float]
    history: list[dict[str, float]]


def make_agent(args: Args, envs) -> Agent:
    """The (untrained) agent of ``args`` for the spaces of the vector env ``envs``: the one place that reads the
    architecture from the arguments, so a study's "before RL" row evaluates the network that trains."""
    return Agent(int(np.prod(envs.single_observation_space.shape)), int(np.prod(envs.single_action_space.shape)),
                 args.hidden, args.norm_obs, args.layers, args.init_logstd)


def make_envs(args: Args, num_envs: int, sync_scoring: bool = False, model: RewardModel | None = None):
    """The training (or, with ``sync_scoring``, evaluation) vector env of ``args``; ``model``: the run's reward
    model to share (None: built from ``args``). A potential-based reward is shaped with ``gamma``, the discount
    GAE applies per step, so its return telescopes."""
    return make_vector_env(args.env_id, num_envs, model=model if model is not None else args.reward_model(),
                           form=args.form, instruction=args.instruction,
                           reward_kwargs=args.form_kwargs(args.gamma, sync_scoring),
                           env_kwargs=args.env_kwargs, vectorization=args.vectorization,
                           autoreset_mode=args.autoreset_mode)


def _to_tensor(x: Any) -> torch.Tensor:
    return torch.as_tensor(np.asarray(x), dtype=torch.float32)


def _reward_model_field(info: dict[str, Any], key: str, n: int) -> np.ndarray:
    """``info["reward_model"][key]`` as an int (n,) array (0 where absent)."""
    values = info.get("reward_model", {}).get(key)
    return np.zeros(n, np.int64) if values is None else np.asarray(values, np.int64)


def evaluate(agent: Agent, envs, episodes: int, seed: int) -> dict[str, float]:
    """Run the deterministic policy for ``episodes`` episodes (the same number in every sub-env, so
    short episodes are not over-counted); metrics under eval/."""
    n = envs.num_envs
    quota, done = np.full(n, -(-episodes // n)), np.zeros(n, int)
    stats = RolloutStats(n)
    low, high = envs.single_action_space.low, envs.single_action_space.high
    obs, _ = envs.reset(seed=seed)
    starting = np.zeros(n, bool)
    while (done < quota).any():
        with torch.no_grad():
            action = agent.act(_to_tensor(obs)).numpy()
        obs, reward, terminated, truncated, info = envs.step(np.clip(action, low, high))
        valid, ended = ~starting & (done < quota), terminated | truncated
        stats.add(reward, terminated, truncated, fields_from_vector_info(info, n), valid)
        done += valid & ended
        starting = ended if _next_step(envs) else np.zeros_like(starting)
    summary = stats.summary()
    return {"eval/" + k.split("/", 1)[1]: v for k, v in summary.items()}


def relabel_rollout(envs, rewards: np.ndarray, detected: np.ndarray, keys: np.ndarray, valid: np.ndarray) -> int:
    """Fill the pending (NaN) learned rewards of a rollout in place from ``envs.flush()``.

    Args:
        rewards, detected: (T, N) learned rewards and the model's detected success (NaN where pending).
        keys: (T, N, 2) int ``(episode, step)`` of each env step (``info["reward_model"]``).
        valid: (T, N) steps that belong to an episode.
    Returns the number of relabelled steps. Raises :class:`MissingRewardError` if a valid step's
    reward never arrived.
    """
    t, i = np.nonzero(valid & np.isnan(rewards))
    found = late_rewards(np.stack([i, keys[t, i, 0], keys[t, i, 1]], -1), by_key(envs.flush()))
    rewards[t, i] = [r.reward for r in found]
    detected[t, i] = [float(r.info.get("success", np.nan)) for r in found]
    return len(found)


def _shown(value: float) -> str:
    """A rate for the progress bar: ``-`` until there is one (no episode has ended yet, no evaluation ran)."""
    return "-" if math.isnan(value) else f"{value:.2f}"


def _next_step(envs) -> bool:
    return envs.metadata.get("autoreset_mode", AutoresetMode.NEXT_STEP) == AutoresetMode.NEXT_STEP


def train(args: Args) -> TrainResult:
    """Train PPO as configured; resume from ``args.resume`` if given. Returns the final metrics."""
    torch.set_num_threads(args.torch_threads)
    run_path = args.run_path
    ckpt_path = run_path / "checkpoint.pt"
    resume = ckpt_path if args.resume == "auto" and ckpt_path.exists() else (
        None if args.resume in (None, "auto") else Path(args.resume))
    if resume is not None:  # read and checked first: a refused resume touches nothing and builds no env
        ckpt = load_checkpoint(resume)
        check_same_config(resume, ckpt.get("args"), asdict(args))
    elif args.resume == "auto":
        print(f"no checkpoint in {run_path}: starting a new run")
    run_path.mkdir(parents=True, exist_ok=True)

    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    if args.progress_bar:  # a simulator's envs can take half a minute to start: say what is going on
        print(f"building {args.num_envs} training and {args.num_eval_envs} evaluation envs of {args.env_id} "
              f"({args.vectorization}, reward model {args.model}) ...", flush=True)
    started = time.time()
    reward_model = args.reward_model()  # one model for the run: training and evaluation envs share it
    envs = make_envs(args, args.num_envs, model=reward_model)
    eval_envs = make_envs(args, args.num_eval_envs, sync_scoring=True, model=reward_model)
    if args.progress_bar:
        print(f"envs ready in {time.time() - started:.0f} s; training", flush=True)
    if not isinstance(envs.single_action_space, gym.spaces.Box):
        raise ValueError("ppo_gae handles continuous (Box) action spaces only")
    next_step_mode = _next_step(envs)
    obs_shape, act_shape = envs.single_observation_space.shape, envs.single_action_space.shape
    low, high = envs.single_action_space.low, envs.single_action_space.high
    agent = make_agent(args, envs)
    optimizer = torch.optim.Adam(agent.parameters(), lr=args.learning_rate, eps=1e-5)

    start_iteration, global_step, elapsed_before = 1, 0, 0.0
    if resume is not None:
        agent.load_state_dict(ckpt["agent"])
        optimizer.load_state_dict(ckpt["optimizer"])
        start_iteration, global_step = ckpt["iteration"] + 1, ckpt["global_step"]
        elapsed_before = float(ckpt.get("elapsed_s", 0.0))
        set_rng_state(ckpt["rng"])
        print(f"resuming {run_path} from {resume}: step {global_step} of {args.total_timesteps} "
              f"(iteration {start_iteration - 1} of {args.num_iterations})")

    # A fresh run starts the history anew; a resumed one keeps what was logged up to its checkpoint.
    logger = RunLogger(run_path, asdict(args), args.tensorboard, global_step if resume is not None else None)
    log, history = logger.log, logger.history

    T, N = args.num_steps, args.num_envs
    obs_buf = torch.zeros((T, N) + obs_shape)
    actions_buf = torch.zeros((T, N) + act_shape)
    logprobs_buf, values_buf = torch.zeros((T, N)), torch.zeros((T, N))
    rewards_buf = np.zeros((T, N))
    terminated_buf, truncated_buf, valid_buf = (np.zeros((T, N), bool) for _ in range(3))
    final_values = np.full((T, N), np.nan)  # SAME_STEP mode: V(final obs) where an episode ended
    learned_buf, env_reward_buf = np.zeros((T, N)), np.zeros((T, N))
    keys_buf = np.zeros((T, N, 2), np.int64)  # (episode, step) of each env step, for late rewards
    fields_buf: list[dict[str, np.ndarray]] = []

    stats = RolloutStats(N)
    train_metrics: dict[str, float] = {}
    eval_metrics: dict[str, float] = {}
    next_obs, _ = envs.reset(seed=args.seed + start_iteration - 1)
    next_obs = _to_tensor(next_obs)
    starting = np.zeros(N, bool)  # NEXT_STEP: the sub-env's next step is its reset
    start_time, start_step = time.time(), global_step
    bar = tqdm(range(start_iteration, args.num_iterations + 1), initial=start_iteration - 1,
               total=args.num_iterations, disable=not args.progress_bar, desc=args.run_name, unit="it")
    for iteration in bar:
        if args.anneal_lr:
            optimizer.param_groups[0]["lr"] = args.learning_rate * (1.0 - (iteration - 1.0) / args.num_iterations)
        stats.clear()
        final_values.fill(np.nan)
        for step in range(T):
            global_step += N
            obs_buf[step] = next_obs
            valid_buf[step] = ~starting
            agent.obs_norm.update(next_obs[torch.as_tensor(~starting)].reshape(-1, *obs_shape))
            with torch.no_grad():
                action, logprob, _, value = agent.get_action_and_value(next_obs)
            actions_buf[step], logprobs_buf[step], values_buf[step] = action, logprob, value
            obs, reward, terminated, truncated, info = envs.step(np.clip(action.numpy(), low, high))
            terminated, truncated = np.asarray(terminated, bool), np.asarray(truncated, bool)
            fields = fields_from_vector_info(info, N)
            learned_buf[step], env_reward_buf[step] = reward, fields["env_reward"]
            keys_buf[step] = np.stack([_reward_model_field(info, "episode", N), _reward_model_field(info, "step", N)], -1)
            fields_buf.append(fields)
            terminated_buf[step], truncated_buf[step] = terminated & valid_buf[step], truncated & valid_buf[step]
            ended = terminated | truncated
            if not next_step_mode and ended.any():
                final = np.stack([np.asarray(info["final_obs"][i]) for i in np.flatnonzero(ended)])
                with torch.no_grad():
                    final_values[step, ended] = agent.get_value(_to_tensor(final)).numpy()
            starting = ended if next_step_mode else np.zeros(N, bool)
            next_obs = _to_tensor(obs)

        detected = np.stack([f["detected"] for f in fields_buf])
        relabel_rollout(envs, learned_buf, detected, keys_buf, valid_buf)
        for step, fields in enumerate(fields_buf):
            stats.add(learned_buf[step], terminated_buf[step], truncated_buf[step],
                      {**fields, "detected": detected[step]}, valid_buf[step])
        optimised = env_reward_buf if args.train_on_env_reward else learned_buf
        rewards_buf[:] = np.where(valid_buf, optimised * args.reward_scale, 0.0)
        fields_buf.clear()
        with torch.no_grad():
            last_value = agent.get_value(next_obs).numpy()
        values = values_buf.numpy().astype(np.float64)
        # V(s_{t+1}): the next stored state (in NEXT_STEP mode the final obs of an ending episode).
        next_values = np.concatenate([values[1:], last_value[None]], axis=0)
        next_values = np.where(np.isnan(final_values), next_values, final_values)
        advantages, returns = compute_gae(rewards_buf, values, next_values, terminated_buf, truncated_buf,
                                          args.gamma, args.gae_lambda, args.bootstraps_timeouts,
                                          args.bootstrap_terminations)

        # PPO update over the valid steps only.
        valid = np.flatnonzero(valid_buf.reshape(-1))
        b_obs, b_actions = obs_buf.reshape(-1, *obs_shape)[valid], actions_buf.reshape(-1, *act_shape)[valid]
        b_logprobs, b_values = logprobs_buf.reshape(-1)[valid], values_buf.reshape(-1)[valid]
        b_adv = torch.as_tensor(advantages.reshape(-1)[valid], dtype=torch.float32)
        b_ret = torch.as_tensor(returns.reshape(-1)[valid], dtype=torch.float32)
        minibatch = max(1, len(valid) // args.num_minibatches)
        clipfracs, approx_kl = [], torch.tensor(0.0)
        for _epoch in range(args.update_epochs):
            order = np.random.permutation(len(valid))
            for start in range(0, len(valid) - minibatch + 1, minibatch):
                mb = torch.as_tensor(order[start:start + minibatch])
                _, newlogprob, entropy, newvalue = agent.get_action_and_value(b_obs[mb], b_actions[mb])
                logratio = newlogprob - b_logprobs[mb]
                ratio = logratio.exp()
                with torch.no_grad():
                    approx_kl = ((ratio - 1) - logratio).mean()
                    clipfracs.append(((ratio - 1.0).abs() > args.clip_coef).float().mean().item())
                mb_adv = b_adv[mb]
                if args.norm_adv and len(mb) > 1:
                    mb_adv = (mb_adv - mb_adv.mean()) / (mb_adv.std() + 1e-8)
                pg_loss = torch.max(-mb_adv * ratio,
                                    -mb_adv * torch.clamp(ratio, 1 - args.clip_coef, 1 + args.clip_coef)).mean()
                if args.clip_vloss:
                    v_clipped = b_values[mb] + torch.clamp(newvalue - b_values[mb], -args.clip_coef, args.clip_coef)
                    v_loss = 0.5 * torch.max((newvalue - b_ret[mb]) ** 2, (v_clipped - b_ret[mb]) ** 2).mean()
                else:
                    v_loss = 0.5 * ((newvalue - b_ret[mb]) ** 2).mean()
                entropy_loss = entropy.mean()
                loss = pg_loss - args.ent_coef * entropy_loss + v_loss * args.vf_coef
                optimizer.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(agent.parameters(), args.max_grad_norm)
                optimizer.step()
            if args.target_kl is not None and approx_kl > args.target_kl:
                break

        y_pred, y_true = b_values.numpy(), b_ret.numpy()
        var_y = np.var(y_true)
        sps = (global_step - start_step) / max(time.time() - start_time, 1e-9)
        train_metrics = {**stats.summary(), "charts/learning_rate": optimizer.param_groups[0]["lr"],
                         "charts/SPS": sps, "charts/minutes": (elapsed_before + time.time() - start_time) / 60,
                         "losses/value_loss": v_loss.item(), "losses/policy_loss": pg_loss.item(),
                         "losses/entropy": entropy_loss.item(), "losses/approx_kl": approx_kl.item(),
                         "losses/clipfrac": float(np.mean(clipfracs)) if clipfracs else math.nan,
                         "losses/explained_variance": float(1 - np.var(y_true - y_pred) / var_y) if var_y else math.nan}
        if (args.eval_every and iteration % args.eval_every == 0) or iteration == args.num_iterations:
            eval_metrics = evaluate(agent, eval_envs, args.eval_episodes, seed=10_000 + args.seed + iteration)
            train_metrics.update(eval_metrics)
        log(train_metrics, global_step)
        bar.set_postfix(success=_shown(train_metrics["charts/success_rate"]),
                        eval=_shown(eval_metrics.get("eval/success_rate", math.nan)), sps=f"{sps:.0f}")
        if (args.checkpoint_every and iteration % args.checkpoint_every == 0) or iteration == args.num_iterations:
            save_checkpoint(ckpt_path, agent=agent.state_dict(), optimizer=optimizer.state_dict(),
                            iteration=iteration, global_step=global_step, rng=rng_state(), args=asdict(args),
                            elapsed_s=elapsed_before + time.time() - start_time)
    bar.close()
    envs.close()
    eval_envs.close()
    reward_model.close()
    logger.close()
    return TrainResult(run_path, global_step, time.time() - start_time, train_metrics, eval_metrics, history)


def fidelity_pearson(args: Args) -> str:
    """Which Pearson correlation measures this reward's fidelity
    (:func:`vlmreward_rl.algos.common.fidelity.fidelity_pearson`)."""
    return reward_fidelity_pearson(args.form, args.reward_kwargs)


def summarize(args: Args, result: TrainResult) -> dict[str, Any]:
    """Final success and reward fidelity: the last evaluation, and the mean of the training windows; the success
    calls of all training episodes summed and the false successes paid (``fidelity/``,
    :func:`~vlmreward_rl.algos.common.fidelity.run_fidelity`); ``fidelity_pearson`` names the correlation that
    measures this reward (:func:`fidelity_pearson`)."""
    rows = read_metrics(result.run_path / "metrics.jsonl")

    def run_mean(key: str) -> float:
        values = [r[key] for r in rows if key in r]
        return float(np.mean(values)) if values else float("nan")

    return {"env_id": args.env_id, "model": args.model, "model_kwargs": args.model_kwargs, "form": args.form,
            "reward_kwargs": args.reward_kwargs, "fidelity_pearson": fidelity_pearson(args),
            "env_steps": result.global_step,
            "seconds": round(result.seconds, 1), **{k: v for k, v in result.eval.items()},
            "train/success_rate_last": result.train.get("charts/success_rate", float("nan")),
            **{f"train/{k.split('/')[1]}_mean": run_mean(k) for k in (
                "reward/success_precision", "reward/success_recall", "reward/progress_pearson",
                "reward/progress_delta_pearson")}, **run_fidelity(rows)}


def report(summary: dict[str, Any]) -> str:
    """What a run prints at its end: success, and the reward's fidelity by the correlation that measures it."""
    def f(key: str) -> str:
        value = summary.get(key, float("nan"))
        return "n/a" if value is None or value != value else f"{value:.3f}"

    pearson = summary["fidelity_pearson"]
    label = ("Pearson r with the step's change in oracle progress (this reward pays changes)"
             if pearson == "progress_delta_pearson" else "Pearson r with oracle progress")
    options = " ".join(format_kwargs({**summary["model_kwargs"], **summary["reward_kwargs"]}))
    return "\n".join([
        f"PPO on {summary['env_id']} with the {summary['model']} {summary['form']} reward"
        f"{f' ({options})' if options else ''}: {summary['env_steps']} env steps in {summary['seconds'] / 60:.1f} min",
        f"success rate (evaluation, mean action): {f('eval/success_rate')} at the episode's end, "
        f"{f('eval/success_once')} at any step of it",
        f"reward fidelity (evaluation): success precision {f('eval/success_precision')}, recall "
        f"{f('eval/success_recall')}; {label} {f(f'eval/{pearson}')}",
        f"reward fidelity (training, mean over rollouts): success precision {f('train/success_precision_mean')}, "
        f"recall {f('train/success_recall_mean')}; {label} {f(f'train/{pearson}_mean')}",
        fidelity_line(summary, pearson, what="all training episodes"),
    ])


def _eval_history(history: list[dict[str, float]], key: str = "eval/success_rate") -> list[list[float]]:
    return [[r["global_step"], r[key]] for r in history if key in r]


def outcome(args: Args, result: TrainResult) -> dict[str, Any]:
    """A trial's metrics: the summary, the final evaluation's success and [step, success] per evaluation."""
    return {**summarize(args, result), "success": result.eval["eval/success_rate"],
            "history": _eval_history(result.history)}


def resources(args: Args) -> Resources:
    """One CPU, and one more per sub-env when each is a process of its own (``vectorization async``); a GPU
    when the reward model is placed on CUDA."""
    declared = default_resources(args)
    return replace(declared, cpus=1.0 + args.num_envs) if args.vectorization == "async" else declared


@dataclass(frozen=True)
class InitialPolicy:
    """The untrained PPO policy of ``args`` (the "before RL" row when PPO starts from scratch)."""

    args: Args

    @property
    def seed(self) -> int:
        return self.args.seed


def evaluate_initial_policy(config: InitialPolicy) -> dict[str, float]:
    """Evaluate the network :func:`train` would start from (seeded as a run of ``config.args``), as a run's
    final evaluation is: ``eval/`` metrics."""
    args = config.args
    torch.manual_seed(args.seed)
    envs = make_envs(args, args.num_eval_envs, sync_scoring=True)
    try:
        return evaluate(make_agent(args, envs), envs, args.eval_episodes, seed=10_000 + args.seed)
    finally:
        envs.close()


ALGORITHM = Algorithm("ppo", Args, train, summarize, outcome, title=lambda args: "PPO", report=report,
                      curves={"training rollouts": "charts/success_rate",
                              "evaluation (mean action)": "eval/success_rate"},
                      resources=resources, initial_policy=InitialPolicy)
INITIAL_POLICY = Algorithm(
    "initial-policy", InitialPolicy, evaluate_initial_policy, summarize=lambda config, metrics: metrics,
    outcome=lambda config, metrics: {**metrics, "success": metrics["eval/success_rate"], "env_steps": 0},
    title=lambda config: "PPO's initial policy", resources=lambda config: resources(config.args),
    with_run_dir=lambda config, run_dir: InitialPolicy(log_quietly_to(config.args, run_dir)))


def main(argv: list[str] | None = None) -> TrainResult:
    return train(tyro.cli(Args, args=argv))


if __name__ == "__main__":
    main()
