"""DSRL: reinforcement learning over a frozen diffusion (or flow) policy's initial noise.

    python -m vlmreward_rl.algos.dsrl --policy runs/bc/pointreach --env-id vlmreward/PointReach-v0 --model oracle \
        --form dense --variant na

The frozen policy maps (observation, noise w) deterministically to an action chunk (DDIM, eta = 0).
:class:`~vlmreward_rl.algos.common.chunks.ChunkRunner` makes that noise the agent's action: it decodes a
chunk, executes it (stopping where the episode ends) and pays the sum of the chunk's rewards, so an
episodic reward paid on an episode's last step lands in that chunk's reward. A potential-based reward (``relative`` dense or
stage-gated) is shaped per env step with ``gamma ** (1 / chunk length)`` and summed with that discount,
so a chunk pays ``gamma * potential_end - potential_start`` and the return telescopes (:func:`step_discount`). The ``num_envs`` envs are one vector env under the
batched twin of the reward form, stepped together: one reward-model call per env step for all of
them, and one reward model per run, shared with the evaluation env.

- ``variant="sac"`` (DSRL-SAC): SAC with the noise as the action; critics Q(s, w).
- ``variant="na"`` (DSRL-NA, noise aliasing): critics Q^A_i(s, a) on the real action chunks, each
  distilled into a noise critic Q^W_i(s, w) ~ Q^A_i(s, pi(s, w)); the actor maximises min_i Q^W_i.
  Noise that decodes to the same chunk shares its value, which SAC has to learn separately.

Both: a tanh-squashed Gaussian actor scaled to ``action_magnitude``, 2 critics with a min backup,
automatic entropy temperature (target entropy 0), soft target updates; every one of the ``utd``
gradient steps of an agent step updates the temperature, the critics and the actor, then DSRL-NA
distills each noise critic from its action critic on N(0, I) noise, as the authors' code does
(:meth:`DSRLAgent.gradient_step`, :meth:`DSRLAgent.distill_noise_critic`). The first
``learning_starts`` env steps run the base policy (noise ~ N(0, I); DSRL-SAC clips it to the magnitude);
that noise is decoded exactly once, by the runner, and stored as the agent's action. Budgets
(``total_timesteps``, ``learning_starts``, evaluation and logging periods) count *env* steps,
i.e. every executed action of a chunk. Time-outs are bootstrapped unless the form is episodic.

Late scoring (``--reward-kwargs scoring async`` or ``deferred``): a chunk whose reward is still
being scored enters the replay buffer pending, keyed by the ``(env, episode, step)`` of each of its
env steps. Before each batch of updates the rewards that have arrived (``pop_relabels()``; with
``deferred``, which scores nothing until asked, ``flush()``) fill in those chunks' rewards
(:func:`chunk_return` of their steps'), exactly the sync reward; only complete transitions are sampled, so the critic never
sees a NaN; ``deferred`` is also flushed before each log, so its windows hold the steps a sync run's do. At the end
the envs are flushed and a reward that never arrived raises. Evaluation scores synchronously.

The learner is JAX (:mod:`vlmreward_rl.algos.dsrl_agent`): a round of updates, the ``utd`` gradient steps and the Q^W
steps after them, is one compiled call on batches drawn from the replay buffer beforehand; the trained agent is saved
as ``agent.safetensors`` in the run folder (parameters, optimiser states, step, args).

Logging as :mod:`vlmreward_rl.algos.ppo_gae` (run ``<env>__dsrl-<variant>__<model>-<form>__s<seed>``): a chunk is
one step of the rollout metrics; ``base/`` holds the base policy's evaluation before training. An
evaluation rolls the actor out twice on the same reset seeds: with its noise sampled (``eval/``, seeded;
the DSRL authors' protocol, ``deterministic_eval: False`` in their configs) and with its mean noise
(``eval_mean/``). The learned reward's fidelity is logged with each training window (``reward/``: the model's
success calls against the simulator's, the false successes paid, the chunk reward's Pearson r with oracle progress
and its change over the chunk) and summed over the run at the end (``fidelity/`` in the summary).
"""

from __future__ import annotations

import json
import math
import time
from collections import deque
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, MutableMapping

import numpy as np
import torch
import tyro
from tqdm.auto import tqdm

from vlmreward_rl.algos.common.chunks import Chunk, ChunkRunner, NoisePolicy, chunk_return, run_episodes, zero_noise
from vlmreward_rl.algos.common.envs import RewardEnvArgs, is_potential_based, make_vector_env
from vlmreward_rl.algos.common.fidelity import fidelity_pearson, run_fidelity
from vlmreward_rl.algos.common.late_rewards import Key, by_key, late_rewards, step_key
from vlmreward_rl.algos.common.logger import RunLogger
from vlmreward_rl.algos.common.metrics import RolloutStats, fields_from_infos, run_name
from vlmreward_rl.algos.common.records import Algorithm, Inputs
from vlmreward_rl.algos.common.summaries import fidelity_line, gain_points, num, success_line
from vlmreward_rl.algos.diffusion_policy import DiffusionPolicy
from vlmreward_rl.algos.dsrl_agent import Actor, BackgroundLearner, DSRLAgent
from vlmreward_gym.models.base import RewardModel
from vlmreward_gym.wrappers.scoring import Relabel

VARIANTS = ("na", "sac")
AGENT_FILE = "agent.safetensors"
"""the trained agent in the run folder (:meth:`DSRLAgent.save`: parameters, optimiser states, step, args)"""


def step_discount(args: Args, policy: NoisePolicy) -> float:
    """The discount per env step within a chunk: ``gamma ** (1 / chunk length)`` for a potential-based reward
    (relative ``dense`` / ``stage_gated``), else 1.

    The critic discounts once per chunk, by ``gamma``. A potential-based reward shaped with this per-step
    gamma ``g`` pays ``g * P_t - P_(t-1)`` per step, so the chunk's steps weighted ``g ** j``
    (:func:`chunk_return`) sum to ``g**k * P_end - P_start = gamma * P_end - P_start`` for a chunk of ``k``
    steps: exactly the potential-based reward of the chunk-level MDP, whose discounted return telescopes.
    Deliberate difference from the authors, who sum a chunk's rewards plainly (ajwagen/dsrl, env_utils.py,
    ``ActionChunkWrapper.step``): with a per-step potential reward and a per-chunk discount the plain sum pays
    ``gamma * P_end - P_start - (1 - gamma) * (P_1 + ... + P_(k-1))``, a penalty growing with progress (on PointReach,
    chunks of 4, an error of ~0.12 a chunk). Their rewards are sparse simulator rewards, for which the plain sum is
    kept. (A chunk cut short by a time-out pays ``g**m * P_end - P_start`` for its ``m`` steps and is bootstrapped
    with ``gamma``; the difference, ``(g**m - gamma) * P_end``, is under 1 % of the potential.)"""
    if not is_potential_based(args.form, args.reward_kwargs):
        return 1.0
    return args.gamma ** (1.0 / policy.action_shape[0])


@dataclass(frozen=True)
class Args(RewardEnvArgs):
    policy: str = "runs/bc/pointreach"
    """folder of the frozen diffusion policy (vlmreward_rl.algos.diffusion_policy: model.safetensors + config.json)"""
    variant: str = "na"
    """na (DSRL-NA, noise aliasing) | sac (DSRL-SAC)"""
    # DSRL (defaults: the paper's Robomimic settings, Wagenmaker et al. 2025 / RoboReward Tables 5-6)
    seed: int = 1
    total_timesteps: int = 50_000
    """env steps (every executed action of every chunk counts)"""
    num_envs: int = 1
    learning_starts: int = 2_000
    """env steps of the base policy (noise ~ N(0, I)) before learning"""
    action_magnitude: float = 1.5
    utd: int = 20
    """gradient steps per agent step (one chunk in every env), each of the critics, the actor and the temperature
    (the authors' ``gradient_steps``); Lift: 30"""
    noise_critic_updates: int = 10
    """DSRL-NA: Q^W distillation gradient steps per agent step, after the UTD steps"""
    hidden: int = 2048
    layers: int = 3
    batch_size: int = 256
    learning_rate: float = 3e-4
    actor_learning_rate: float | None = None
    """the actor's (and temperature's) learning rate; None: ``learning_rate``, one rate for all as the authors'"""
    critic_warmup_updates: int = 0
    """gradient steps of the critics (and of Q^W) on the warm-up data before the actor's first update (not in the
    authors' code)"""
    tau: float = 0.005
    gamma: float = 0.99
    """discount per agent step (per chunk)"""
    target_entropy: float = 0.0
    """of the actor's squashed distribution on [-1, 1]^noise_dim, before the magnitude (the authors' convention)"""
    init_temperature: float = 1.0
    buffer_size: int = 1_000_000
    train_on_env_reward: bool = False
    """baseline: learn from the simulator's own reward (``info["env_reward"]``, a chunk's steps summed plainly, as the
    authors sum a chunk's rewards) instead of the learned one, which is still asked and logged for its fidelity (sync
    scoring only)"""
    async_env: bool = False
    """run each round of updates in a thread beside the env (:class:`~vlmreward_rl.algos.dsrl_agent.BackgroundLearner`):
    the env steps with the actor one round older, the updates per env step unchanged, runs still deterministic"""
    # evaluation, logging
    eval_every: int = 5_000
    """env steps between evaluations (0: only at the end). Each evaluates the actor as it acts, noise sampled
    from it (``eval/``: the DSRL authors' protocol, their configs' ``deterministic_eval: False``), and its
    mean noise (``eval_mean/``), on the same reset seeds"""
    eval_episodes: int = 20
    eval_base: bool = True
    """evaluate the base policy before training, as it is (noise N(0, I): ``base/``) and fed w = 0 (``base_mean/``,
    where the actor starts: a gain up to it needs no reward at all); off when a run with the same policy, env and
    seed has measured it already (the base policy's success does not depend on the reward model)"""
    log_every: int = 1_000
    """env steps between logged training windows"""
    run_dir: str = "runs"
    tensorboard: bool = True
    progress_bar: bool = True
    torch_threads: int = 1

    @property
    def run_name(self) -> str:
        algo = f"dsrl-{self.variant}{'-env-reward' * self.train_on_env_reward}"  # never the folder of its learned twin
        return run_name(self.env_id, algo, self.model, self.form, self.seed, self.model_kwargs, self.reward_kwargs)

    @property
    def run_path(self) -> Path:
        return Path(self.run_dir) / self.run_name

    @property
    def bootstraps_timeouts(self) -> bool:
        return self.bootstrap_timeouts if self.bootstrap_timeouts is not None else self.form != "episodic"

    @property
    def eval_every_steps(self) -> int:
        """Env steps between evaluations (``eval_every`` counts them already)."""
        return self.eval_every


class ReplayBuffer:
    """Transitions of agent steps: obs, noise, decoded chunk (flat), summed reward, next obs, done.

    Late scoring: a transition added with reward NaN is *pending*; it keeps its chunk's per-step
    rewards (NaN where pending) and their keys ``(env, episode, step)`` until :meth:`fill` has them
    all, and then gets their sum, as a sync run would. :meth:`sample` never returns a pending one.
    """

    def __init__(self, capacity: int, obs_dim: int, noise_dim: int, chunk_dim: int, step_discount: float = 1.0):
        self.capacity, self.size, self.pos, self.step_discount = capacity, 0, 0, step_discount
        self.obs = np.zeros((capacity, obs_dim), np.float32)
        self.next_obs = np.zeros((capacity, obs_dim), np.float32)
        self.noise = np.zeros((capacity, noise_dim), np.float32)
        self.chunk = np.zeros((capacity, chunk_dim), np.float32)
        self.reward = np.zeros(capacity, np.float32)
        self.done = np.zeros(capacity, np.float32)
        self.pending: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # slot -> (step rewards (k,), keys (k, 3))

    def add(self, obs, noise, chunk, reward, next_obs, done, step_rewards=None, step_keys=None) -> int:
        """Store a transition and return its slot; a NaN ``reward`` needs ``step_rewards`` (k,) and
        ``step_keys`` (k, 3) int ``(env, episode, step)`` of the chunk's steps."""
        i = self.pos
        if i in self.pending:
            raise RuntimeError(f"replay slot {i} would be overwritten while its reward is still pending: "
                               f"the buffer ({self.capacity}) is too small for the late rewards in flight")
        if math.isnan(reward):
            if step_rewards is None or step_keys is None:
                raise ValueError("a pending (NaN) chunk reward needs the chunk's step rewards and keys")
            self.pending[i] = (np.array(step_rewards, np.float64), np.asarray(step_keys, np.int64).reshape(-1, 3))
        self.obs[i], self.noise[i], self.chunk[i] = np.ravel(obs), np.ravel(noise), np.ravel(chunk)
        self.reward[i], self.next_obs[i], self.done[i] = reward, np.ravel(next_obs), float(done)
        self.pos, self.size = (i + 1) % self.capacity, min(self.size + 1, self.capacity)
        return i

    @property
    def ready(self) -> int:
        """How many transitions can be sampled (those whose reward is complete)."""
        return self.size - len(self.pending)

    def fill(self, arrived: MutableMapping[Key, Relabel], strict: bool) -> None:
        """Fill pending steps from ``arrived`` (late rewards keyed ``(env, episode, step)``), taking out of it the
        ones used (the others may belong to chunks still running); a transition whose steps are all in gets
        their :func:`chunk_return`. ``strict`` (after a flush): a step still missing raises
        :class:`~vlmreward_rl.algos.common.late_rewards.MissingRewardError`."""
        for i, (rewards, keys) in list(self.pending.items()):
            todo = np.isnan(rewards)
            rewards[todo] = [np.nan if r is None else r.reward for r in late_rewards(keys[todo], arrived, strict)]
            if not np.isnan(rewards).any():
                self.reward[i] = chunk_return(rewards, self.step_discount)  # the chunk's reward, as if all were in
                del self.pending[i]
                for key in map(tuple, keys.tolist()):
                    arrived.pop(key, None)

    def sample(self, batch_size: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """``batch_size`` transitions drawn uniformly, with replacement, from those not pending (float32 arrays
        ``obs``, ``noise``, ``chunk``, ``reward``, ``next_obs``, ``done``, each (batch_size, ...))."""
        if self.ready < 1:
            raise ValueError("no transition with a complete reward to sample")
        idx = rng.integers(0, self.ready, batch_size)
        for slot in sorted(self.pending):  # the k-th ready slot: step over the pending ones
            idx += idx >= slot
        return {k: getattr(self, k)[idx] for k in ("obs", "noise", "chunk", "reward", "next_obs", "done")}

    def sample_round(self, steps: int, batch_size: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """``steps`` batches of :meth:`sample`, drawn one after another, stacked: (steps, batch_size, ...)."""
        batches = [self.sample(batch_size, rng) for _ in range(steps)]
        return {k: np.stack([b[k] for b in batches]) for k in batches[0]}


def load_policy(path: str | Path) -> NoisePolicy:
    return DiffusionPolicy.load(path)


@dataclass
class TrainResult:
    run_path: Path
    global_step: int
    seconds: float
    base: dict[str, float]
    eval: dict[str, float]
    history: list[dict[str, float]]
    buffer: ReplayBuffer
    agent: DSRLAgent


def make_runner(args: Args, policy: NoisePolicy, num_envs: int = 1, model: RewardModel | None = None) -> ChunkRunner:
    """``num_envs`` learned-reward envs of ``args`` (one batched reward query per env step) under a
    :class:`ChunkRunner`; ``model``: the run's reward model to share (None: built from ``args``). A potential-based
    reward is shaped with :func:`step_discount`, which also weights the chunk's steps. Evaluations use
    :func:`make_eval_runner` instead."""
    discount = step_discount(args, policy)  # the one place: the form's shaping gamma and the chunk's weights
    envs = make_vector_env(args.env_id, num_envs, model=model if model is not None else args.reward_model(),
                           form=args.form, instruction=args.instruction,
                           reward_kwargs=args.form_kwargs(discount), env_kwargs=args.env_kwargs,
                           autoreset_mode="disabled")
    return ChunkRunner(envs, policy, discount)


def make_eval_runner(args: Args, policy: NoisePolicy) -> ChunkRunner:
    """One env of ``args`` in the bare simulator, as evaluations run: the success is the simulator's (a model that
    ends training episodes on its detected success ends none here, and a false one cannot shorten an evaluation),
    and an evaluation spends no frames or reward-model calls (on Lift with sim-rm: about half an episode's time).
    Training-only env options are left out (``RewardEnvArgs.evaluation_env_kwargs``)."""
    envs = make_vector_env(args.env_id, 1, model=None, env_kwargs=args.evaluation_env_kwargs,
                           autoreset_mode="disabled")
    return ChunkRunner(envs, policy)


def train(args: Args, policy: NoisePolicy | None = None) -> TrainResult:
    """Train DSRL as configured (``policy`` overrides ``args.policy``). Returns the run's metrics."""
    if args.train_on_env_reward and args.reward_kwargs.get("scoring", "sync") != "sync":
        raise ValueError(f"train_on_env_reward learns from the simulator's reward and logs the learned one as it "
                         f"arrives: use scoring 'sync', not {args.reward_kwargs['scoring']!r}")
    torch.set_num_threads(args.torch_threads)  # the reward model's
    rng = np.random.default_rng(args.seed)
    policy = policy if policy is not None else load_policy(args.policy)
    reward_model = args.reward_model()  # one model for the run's training envs (evaluations run without one)
    runner = make_runner(args, policy, args.num_envs, reward_model)
    eval_runner = make_eval_runner(args, policy)
    obs_dim = int(np.prod(runner.envs.single_observation_space.shape))
    agent = DSRLAgent(args, obs_dim, policy)
    buffer = ReplayBuffer(min(args.buffer_size, args.total_timesteps + args.num_envs), obs_dim,
                          int(np.prod(agent.noise_shape)), int(np.prod(policy.action_shape)), runner.step_discount)
    run_path = args.run_path
    run_path.mkdir(parents=True, exist_ok=True)
    logger = RunLogger(run_path, asdict(args), args.tensorboard)
    log, history = logger.log, logger.history

    def eval_bar(what: str) -> str | None:
        """The description of an evaluation's progress bar (None: no bar)."""
        return f"evaluating the {what}" if args.progress_bar else None

    def evaluate(step: int) -> dict[str, float]:
        metrics = {}
        for prefix, deterministic in (("eval/", False), ("eval_mean/", True)):
            draws = np.random.default_rng(10_000 + args.seed)  # the same draws at every evaluation
            summary = run_episodes(eval_runner, lambda envs, obs: agent.act(obs.reshape(len(envs), -1), deterministic,
                                                                             draws),
                                   args.eval_episodes, seed=10_000 + args.seed,
                                   progress=eval_bar(f"actor ({'mean' if deterministic else 'sampled'} noise)"))
            metrics.update({prefix + k.split("/", 1)[1]: v for k, v in summary.items()})
        return metrics

    start_time = time.time()
    base = {}
    if args.eval_base:
        for prefix, choose_base, what in (("base/", None, "base policy (noise N(0, I))"),
                                          ("base_mean/", zero_noise(agent.noise_shape), "base policy (w = 0)")):
            summary = run_episodes(eval_runner, choose_base, args.eval_episodes, seed=10_000 + args.seed,
                                   progress=eval_bar(what))
            base.update({prefix + k.split("/", 1)[1]: v for k, v in summary.items()})
    if base:
        log(base, 0)
    stats = RolloutStats(args.num_envs)
    # The chunks that ended in one env step, as (replay slots, chunks), wait here until their rewards are in.
    waiting: deque[tuple[list[int], list[Chunk]]] = deque()
    late: dict[Key, Relabel] = {}  # late rewards that arrived and are not in the replay buffer yet
    deferred = args.reward_kwargs.get("scoring", "sync") == "deferred"

    def take_late_rewards(wait: bool) -> None:
        """Fill pending chunk rewards from what has arrived (everything, if ``wait``: a flush) and
        show the training statistics, in order, of every env step whose chunks' rewards are all in."""
        if buffer.pending:
            late.update(by_key(runner.envs.flush() if wait else runner.envs.pop_relabels()))
            for _, chunks in waiting:  # the reward model's answer at each chunk's last step
                for chunk in chunks:
                    if (key := step_key(chunk.info, chunk.env)) in late:
                        chunk.info["reward_model"] = late[key].info
            buffer.fill(late, strict=wait)
        while waiting and not any(slot in buffer.pending for slot in waiting[0][0]):
            slots, chunks = waiting.popleft()
            show = np.zeros(args.num_envs, bool)
            show[[c.env for c in chunks]] = True
            rewards, terms, truncs = np.zeros(args.num_envs), np.zeros(args.num_envs, bool), np.zeros(args.num_envs, bool)
            infos: list[dict[str, Any]] = [{}] * args.num_envs
            for slot, chunk in zip(slots, chunks):  # the learned reward's statistics, whichever reward is learnt
                learned = chunk.reward if args.train_on_env_reward else buffer.reward[slot]
                rewards[chunk.env], infos[chunk.env] = learned, chunk.info
                terms[chunk.env], truncs[chunk.env] = chunk.terminated, chunk.truncated
            stats.add(rewards, terms, truncs, fields_from_infos(infos), show)

    def training_reward(chunk: Chunk) -> float:
        """The reward the critics learn for ``chunk``: the learned one (NaN while pending), or the simulator's."""
        if not args.train_on_env_reward:
            return chunk.reward
        if chunk.env_reward is None:
            raise RuntimeError(f"train_on_env_reward: {args.env_id} reports no info['env_reward']; its chunks have no "
                               "simulator reward to learn from")
        return chunk.env_reward

    def choose(envs: np.ndarray, obs: Any) -> np.ndarray:
        """The noise of the sub-envs starting a chunk: the base policy's until ``learning_starts``, then the actor's."""
        if global_step < args.learning_starts:  # decoded once, by the runner, and stored as the action
            noise = rng.standard_normal((len(envs), runner.noise_dim)).astype(np.float32)
            # SAC: the noise is its action, so within the action space; NA stores the chunk: the base policy as it
            # is (the authors' collect_rollouts in ajwagen/dsrl utils.py clips for dsrl_sac only)
            return np.clip(noise, -args.action_magnitude, args.action_magnitude) if args.variant == "sac" else noise
        return agent.act(np.asarray(obs).reshape(len(envs), -1))

    learner = BackgroundLearner(agent) if args.async_env else None

    def update(steps: int, distill_steps: int, update_actor: bool = True) -> dict[str, np.ndarray] | None:
        """One fused round of the learner: ``steps`` gradient steps, then ``distill_steps`` Q^W steps (DSRL-NA),
        on batches drawn beforehand (the gradient steps' first, then the distillation's states). Its per-step
        losses; with ``async_env`` those of the round before (None if none), this one running beside the env."""
        batches = buffer.sample_round(steps, args.batch_size, rng)
        distill_obs = buffer.sample_round(distill_steps, args.batch_size, rng)["obs"] if agent.na and distill_steps \
            else None
        return learner.submit(batches, distill_obs, update_actor) if learner else agent.update(batches, distill_obs,
                                                                                               update_actor)

    def round_losses(steps: list[dict[str, np.ndarray] | None]) -> dict[str, float]:
        """The mean of each loss over the steps of the rounds that finished, and the temperature after them."""
        steps = [step for step in steps if step]
        means = {key: float(np.mean(np.concatenate([step[key] for step in steps if key in step])))
                 for key in ("losses/critic_loss", "losses/actor_loss", "losses/alpha_loss", "losses/noise_critic_loss")
                 if any(key in step for step in steps)}
        return {**means, "losses/alpha": learner.alpha if learner else agent.alpha} if steps else {}

    runner.reset(seed=args.seed)  # sub-env i from seed + i
    global_step, losses, critics_fitted, new_transitions = 0, {}, False, 0
    next_eval, next_log = args.eval_every or math.inf, args.log_every
    eval_metrics: dict[str, float] = {}
    bar = tqdm(total=args.total_timesteps, disable=not args.progress_bar, desc=args.run_name, unit="step")
    while global_step < args.total_timesteps:
        ended = runner.step(choose)
        global_step += args.num_envs
        bar.update(args.num_envs)
        slots = []
        for chunk in ended:
            done = (chunk.terminated and not args.bootstrap_terminations) or (
                chunk.truncated and not args.bootstraps_timeouts)
            keys = [(chunk.env, episode, step) for episode, step in chunk.keys]
            slots.append(buffer.add(np.ravel(chunk.obs), chunk.noise, chunk.actions, training_reward(chunk),
                                    np.ravel(chunk.next_obs), done, chunk.rewards, keys))
        if ended:
            waiting.append((slots, ended))
        if any(chunk.ended for chunk in ended):
            runner.reset(mask=np.isin(np.arange(args.num_envs), [c.env for c in ended if c.ended]))
        learning = global_step >= args.learning_starts
        # One round of updates per agent step, i.e. per num_envs chunks that ended (one in every sub-env).
        rounds, new_transitions = divmod(new_transitions + len(ended), args.num_envs) if learning else (0, 0)
        if rounds:  # late scoring: learn from what has arrived; deferred queries are only scored when flushed
            take_late_rewards(wait=deferred)
        elif ended:
            take_late_rewards(wait=False)
        for _ in range(rounds if buffer.ready >= 2 else 0):
            steps: list[dict[str, np.ndarray] | None] = []
            if not critics_fitted:  # not the authors': fit the critics and Q^W to the warm-up data before the actor moves
                critics_fitted = True
                if args.critic_warmup_updates:
                    warm = update(args.critic_warmup_updates, args.critic_warmup_updates, update_actor=False)
                    steps.append({k: v for k, v in (warm or {}).items() if k != "losses/noise_critic_loss"})
            # Q^W after the UTD loop, as the authors' DSRL.train: the actor climbs the one distilled last time
            steps.append(update(args.utd, args.noise_critic_updates))
            losses = round_losses(steps) or losses
        if global_step >= next_eval:
            if learner:  # the actor as a sequential run would evaluate it
                losses = round_losses([learner.wait()]) or losses
            eval_metrics = evaluate(global_step)
            next_eval += args.eval_every
            log(eval_metrics, global_step)
            bar.set_postfix(eval_success=f"{eval_metrics['eval/success_rate']:.2f}")
        if global_step >= next_log:
            if deferred:  # the window's chunks scored (they were pending until the next round), as a sync run logs them
                take_late_rewards(wait=True)
            sps = global_step / max(time.time() - start_time, 1e-9)
            log({**stats.summary(), **losses, "charts/SPS": sps}, global_step)
            stats.clear()
            next_log += args.log_every
    bar.close()
    if learner:
        losses = round_losses([learner.wait()]) or losses
        learner.close()
    take_late_rewards(wait=True)  # every reward is in the returned buffer, or a missing one raises
    if not any(r["global_step"] == global_step and "eval/success_rate" in r for r in history):
        eval_metrics = evaluate(global_step)
        log(eval_metrics, global_step)
    agent.save(run_path / AGENT_FILE, global_step=global_step, args=asdict(args))
    runner.close()
    eval_runner.close()
    reward_model.close()
    logger.close()
    return TrainResult(run_path, global_step, time.time() - start_time, base, eval_metrics, history, buffer, agent)


def summarize(args: Args, result: TrainResult) -> dict[str, Any]:
    """The run's success before (the base policy, noise N(0, I)) and after (the actor with its noise sampled;
    ``_mean``: its mean noise) on the same evaluation starts, the gain in points, the learned reward's fidelity over
    all training episodes (``fidelity/``, :func:`~vlmreward_rl.algos.common.fidelity.run_fidelity`, a chunk being
    one step of its correlations; ``fidelity_pearson`` names the one that measures this reward), with the
    evaluations along the way."""
    before, after = result.base.get("base/success_rate"), result.eval.get("eval/success_rate")
    return {"env_id": args.env_id, "variant": args.variant, "model": args.model, "model_kwargs": args.model_kwargs,
            "form": args.form, "reward_kwargs": args.reward_kwargs, "env_steps": result.global_step,
            "minutes": round(result.seconds / 60, 2), "eval_episodes": args.eval_episodes,
            "success_before": before, "success_before_mean": result.base.get("base_mean/success_rate"),
            "success_after": after,
            "success_after_mean": result.eval.get("eval_mean/success_rate"), "gain_points": gain_points(before, after),
            "fidelity_pearson": fidelity_pearson(args.form, args.reward_kwargs), **run_fidelity(result.history),
            "eval_history": [(r["global_step"], r["eval/success_rate"]) for r in result.history
                             if "eval/success_rate" in r],
            "eval_mean_history": [(r["global_step"], r["eval_mean/success_rate"]) for r in result.history
                                  if "eval_mean/success_rate" in r]}


def outcome(args: Args, result: TrainResult) -> dict[str, Any]:
    """A trial's metrics: the summary, with [step, success] per evaluation, the base policy's at step 0, for the
    actor with its noise sampled (``history``) and with its mean noise (``history_mean``)."""
    summary = summarize(args, result)
    history = [[0, summary["success_before"]]] + [list(e) for e in summary.pop("eval_history")]
    history_mean = [[0, summary["success_before"]]] + [list(e) for e in summary.pop("eval_mean_history")]
    return {**summary, "success": summary["success_after"], "history": history, "history_mean": history_mean}


def report(summary: dict[str, Any]) -> str:
    """What ``vlmreward train`` prints at the end: the simulator's success before and after, the gain, and the
    learned reward's fidelity."""
    return "\n".join([
        f"DSRL-{summary['variant'].upper()} on {summary['env_id']} with the {summary['model']} {summary['form']} "
        f"reward: {summary['env_steps']} env steps in {summary['minutes']:.1f} min",
        success_line(summary["success_before"], summary["success_after"], summary["eval_episodes"],
                     "actor (noise sampled)") + f"; actor's mean noise {num(summary['success_after_mean'], 2)}",
        f"the base policy fed w = 0 (where the actor starts; no reward needed to get there): "
        f"{num(summary.get('success_before_mean'), 2)}",
        fidelity_line(summary, summary["fidelity_pearson"], what="training episodes, per chunk")])


ALGORITHM = Algorithm("dsrl", Args, train, summarize, outcome, title=lambda args: f"DSRL-{args.variant.upper()}",
                      report=report, inputs=lambda args: Inputs(policy=args.policy), task_paths=("policy",),
                      curves={"training episodes": "charts/success_rate",
                              "evaluation (noise sampled)": "eval/success_rate",
                              "evaluation (mean noise)": "eval_mean/success_rate",
                              "base policy, noise N(0, I)": "base/success_rate",
                              "base policy, w = 0": "base_mean/success_rate"})


def main(argv: list[str] | None = None) -> TrainResult:
    result = train(tyro.cli(Args, args=argv))
    print(json.dumps({"env_steps": result.global_step, "minutes": round(result.seconds / 60, 2),
                      "base_success": result.base.get("base/success_rate"),
                      "final_success": result.eval.get("eval/success_rate")}))
    return result


if __name__ == "__main__":
    main()
