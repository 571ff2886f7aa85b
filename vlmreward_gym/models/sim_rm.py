"""``sim-rm``: our own small video-language reward model, trained on the CPU (``vlmreward rm-train``).

Two frame encoders (``SimRMConfig.encoder``): ``keypoints``, described below, for the 2-D PointReach env, and
``cnn`` for rendered 3-D scenes (:mod:`vlmreward_gym.models.sim_rm_scene`; the shipped checkpoints,
``sim-rm-robomimic``, ``sim-rm-lift``, ``sim-rm-lift-side`` and ``sim-rm-pickcube`` in :data:`SHIPPED`, load by
name). Both share the temporal transformer, heads and backend below.

Architecture (:class:`SimRMNet`), for a clip of ``T`` frames at ``S x S`` and one instruction. It
grounds the instruction as a *point* and judges progress from how far the moved thing is from it:

- frame encoder: a small CNN at full resolution whose ``keypoints`` maps are standardised over the
  image and read out by a spatial softmax into points ``(x, y)`` (the expected position of each map);
  a keypoint auto-encoder (below) puts every point on an object;
- instruction encoder: a learned embedding of :class:`WordTokenizer` tokens (built from the
  training instructions, saved with the checkpoint; no download), **summed** (a bag of words);
- grounding: the instruction *selects* two of the points (a softmax over the keypoints, one for the
  *moved thing*, among the points that have moved so far in the clip, and one for the *visible
  target*), so which map lands on which object is free; the goal is an absolute location in the
  image (tanh of a linear map of the bag of words) plus a gate (sigmoid of another) times the first
  frame's visible target. Selections, location and gate are
  linear in the word counts before the squashing, so a new combination of known words ("bottom" +
  "right", from "bottom-left", "top-right" and "top-left") lands where the seen ones imply;
- training losses beyond the heads' (``vlmreward_gym.rm.train``) shape the points: a keypoint
  auto-encoder (each frame redrawn from its points as coloured Gaussian blobs on a background colour;
  pixels that differ from the clip's median frame, i.e. what moves, weigh more, so a small moving
  object is not left out), a spread loss (each map peaks in one place instead of averaging two
  objects), a stationarity loss on the visible target (a goal does not move) and a goal-at-success
  loss (on frames labelled successful the moved thing is at the goal);
- per-frame geometry: the distance from the moved thing to the goal now and at the first frame,
  their ratio and difference (rotation- and position-free, so the heads never see where the goal is);
- a causal temporal transformer over those per-frame tokens (frame ``t`` sees frames ``0..t``, so a
  clipped video gets its prefix's answers);
- heads: per-frame progress (sigmoid; plus a linear path from the distance features), per-frame
  success (sigmoid), and a preference score at the last frame for trajectory comparisons (its own
  head plus the last progress and success logits).

The inductive bias suits "move X to Y" tasks; it is what lets a model trained in minutes on the CPU
generalise to a held-out task. The backend answers PROGRESS (per frame), SUCCESS (last frame),
COMPARE (``clip(k * (p_T - p_{T-1}), -1, 1)`` from the progress head) and EPISODE_SCORE (the 1-5
rubric of the last frame's progress and success). A checkpoint folder holds ``model.safetensors``
and ``config.json`` (architecture, vocabulary, training summary).
"""

from __future__ import annotations

import json
import re
from collections import OrderedDict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from vlmreward_gym.models.base import ModelCard, ModelInfo, RewardModel
from vlmreward_gym.models.control import rubric_score
from vlmreward_gym.types import Capability, RewardOutput, RewardQuery, subsample_indices

CAPABILITIES = Capability.PROGRESS | Capability.SUCCESS | Capability.COMPARE | Capability.EPISODE_SCORE
WEIGHTS, CONFIG = "model.safetensors", "config.json"
PAD, UNK = "<pad>", "<unk>"


class WordTokenizer:
    """Lower-cased word tokens (runs of letters and digits); ids 0 = padding, 1 = unknown word."""

    def __init__(self, vocab: Sequence[str]):
        vocab = list(vocab)
        if vocab[:2] != [PAD, UNK]:
            raise ValueError(f"a vocabulary starts with {[PAD, UNK]}, got {vocab[:2]}")
        self.vocab = vocab
        self.ids = {w: i for i, w in enumerate(vocab)}

    @staticmethod
    def words(text: str) -> list[str]:
        return re.findall(r"[a-z0-9]+", text.lower())

    @classmethod
    def build(cls, texts: Sequence[str]) -> "WordTokenizer":
        return cls([PAD, UNK] + sorted({w for t in texts for w in cls.words(t)}))

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text`` (at least one: an empty text encodes as ``[UNK]``)."""
        return [self.ids.get(w, 1) for w in self.words(text)] or [1]

    def decode(self, ids: Sequence[int]) -> str:
        return " ".join(self.vocab[i] for i in ids if i != 0)

    def __len__(self) -> int:
        return len(self.vocab)


@dataclass
class SimRMConfig:
    """Architecture and preprocessing of a checkpoint (saved as ``config.json``)."""

    vocab: list[str]
    frame_size: int = 32
    num_frames: int = 16  #: frames per clip in training; wrappers subsample to this
    max_frames: int = 64  #: longer clips are subsampled to this and the answers interpolated back
    dim: int = 64
    text_dim: int = 32
    layers: int = 2
    heads: int = 4
    channels: tuple[int, ...] = (16, 16)
    keypoints: int = 10  #: spatial-softmax keypoints (the auto-encoder's; mover and target select among them)
    #: initial logit of the visible-target gate: mostly open, because a closed gate passes the target almost no
    #: gradient (a task about the visible target could not learn to open it) while closing it is easy
    gate_init: float = 2.0
    motion_select: float = 30.0  #: mover selection logit added per unit of a keypoint's displacement so far
    compare_gain: float = 10.0  #: comparison = clip(gain * progress change, -1, 1)
    #: the frame encoder: ``"keypoints"`` (2-D scenes: the instruction grounded as a point, see the module
    #: docstring) or ``"cnn"`` (3-D scenes: see :func:`build_net`)
    encoder: str = "keypoints"
    training: dict[str, Any] = field(default_factory=dict)  #: summary of the run that made it

    def to_json(self) -> str:
        return json.dumps({**asdict(self), "channels": list(self.channels)}, indent=2)

    @classmethod
    def from_json(cls, text: str) -> "SimRMConfig":
        data = json.loads(text)
        data["channels"] = tuple(data["channels"])
        return cls(**data)


def _torch():
    import torch

    return torch


def temporal_encoder(cfg: SimRMConfig):
    """The causal temporal transformer over per-frame tokens (B, T, dim) and its final LayerNorm: ``(temporal, norm)``."""
    nn = _torch().nn
    layer = nn.TransformerEncoderLayer(cfg.dim, cfg.heads, 2 * cfg.dim, dropout=0.0, batch_first=True,
                                       norm_first=True, activation="gelu")
    return nn.TransformerEncoder(layer, cfg.layers, enable_nested_tensor=False), nn.LayerNorm(cfg.dim)


def causal_mask(T: int, device):
    """(T, T) additive attention mask: frame ``t`` sees frames ``0..t``."""
    torch = _torch()
    return torch.triu(torch.full((T, T), float("-inf"), device=device), diagonal=1)


ENCODERS = ("keypoints", "cnn")


def build_net(config: SimRMConfig):
    """The torch module of ``config``: :class:`SimRMNet` for the ``keypoints`` encoder, the scene net of
    :mod:`vlmreward_gym.models.sim_rm_scene` for ``cnn`` (torch imported here, so listing backends stays cheap)."""
    if config.encoder not in ENCODERS:
        raise ValueError(f"sim-rm: unknown encoder {config.encoder!r}; choose one of {ENCODERS}")
    if config.encoder == "cnn":
        from vlmreward_gym.models.sim_rm_scene import build_scene_net

        return build_scene_net(config)
    torch = _torch()
    nn = torch.nn

    class SimRMNet(nn.Module):
        GEOMETRY = 4  #: per-frame features: distance now, at the first frame, their ratio and difference

        def __init__(self, cfg: SimRMConfig):
            super().__init__()
            self.cfg = cfg
            k, layers, c_in = cfg.keypoints, [], 3
            if k < 2:
                raise ValueError(f"sim-rm needs at least 2 keypoints (a moved thing and a target), got {k}")
            for c in cfg.channels:
                layers += [nn.Conv2d(c_in, c, 3, padding=1), nn.GELU()]
                c_in = c
            # each map is standardised over the image before the spatial softmax, so a map that fires
            # on a small object is already peaked there
            self.cnn = nn.Sequential(*layers, nn.Conv2d(c_in, k, 1), nn.InstanceNorm2d(k))
            self.log_temperature = nn.Parameter(torch.zeros(()))
            grid = torch.linspace(-1, 1, cfg.frame_size)
            self.register_buffer("grid", grid, persistent=False)
            self.embed = nn.Embedding(len(cfg.vocab), cfg.text_dim, padding_idx=0)
            # which keypoint is the moved thing and which the visible target: logits linear in the text
            self.mover_select = nn.Linear(cfg.text_dim, k)
            self.target_select = nn.Linear(cfg.text_dim, k)
            self.goal_xy = nn.Linear(cfg.text_dim, 2)  # absolute goal location
            # how much the goal is the visible target of the first frame: a gate linear in the text
            self.goal_gate = nn.Linear(cfg.text_dim, 1)
            for layer in (self.mover_select, self.target_select, self.goal_xy, self.goal_gate):
                nn.init.zeros_(layer.weight)
                nn.init.zeros_(layer.bias)
            nn.init.constant_(self.goal_gate.bias, cfg.gate_init)
            # keypoint auto-encoder (training only): the frame redrawn as a background colour plus one
            # coloured Gaussian blob per map, so every map settles on an object
            self.blob_color = nn.Parameter(torch.zeros(k, 3))
            self.background = nn.Parameter(torch.full((3,), 0.5))
            self.blob_log_width = nn.Parameter(torch.tensor(-2.5))
            self.frame_proj = nn.Sequential(nn.Linear(self.GEOMETRY, cfg.dim), nn.GELU(), nn.Linear(cfg.dim, cfg.dim))
            self.temporal, self.norm = temporal_encoder(cfg)
            self.progress_head = nn.Linear(cfg.dim, 1)
            # a linear path from the distance features to the progress logit, so small changes of the
            # distance (a random walk near its start) reach the answer undamped by the normalisations
            self.progress_skip = nn.Linear(self.GEOMETRY, 1)
            self.success_head = nn.Linear(cfg.dim, 1)
            self.preference_head = nn.Linear(cfg.dim, 1)

        def keypoints(self, frames, with_spread: bool = False):
            """Spatial softmax: (N, S, S, 3) uint8 -> (N, K, 2) expected (x, y) in [-1, 1] of each map
            (x to the right, y up, as PointReach's coordinates), and with ``with_spread`` each map's
            spatial variance (N, K) (var x + var y: 0 for a map peaked on one pixel)."""
            x = frames.float().div(255.0).permute(0, 3, 1, 2)
            maps = self.cnn(x)
            N, K, h, w = maps.shape
            attn = torch.softmax(maps.flatten(2) * self.log_temperature.exp(), -1).view(N, K, h, w)
            px, py = attn.sum(2), attn.sum(3)  # marginals over x (columns) and y (rows): (N, K, S)
            gx, gy = self.grid[:w], -self.grid[:h]
            xs, ys = (px * gx).sum(-1), (py * gy).sum(-1)
            kp = torch.stack([xs, ys], -1)
            if not with_spread:
                return kp
            spread = (px * gx.square()).sum(-1) - xs.square() + (py * gy.square()).sum(-1) - ys.square()
            return kp, spread

        def encode_text(self, tokens):
            """(B, L) int64 ids -> (B, text_dim): the sum of the word embeddings (padding is zero)."""
            return self.embed(tokens).sum(1)

        def render(self, kp):
            """(N, K, 2) keypoints -> (N, S, S, 3) frames in [0, 1] redrawn from them (the auto-encoder's decoder)."""
            xs, ys = self.grid[None, None, None, :], -self.grid[None, None, :, None]
            d2 = (xs - kp[..., 0, None, None]).square() + (ys - kp[..., 1, None, None]).square()  # N K S S
            blobs = torch.exp(-0.5 * d2 / self.blob_log_width.exp().square())  # N K S S
            return self.background + torch.einsum("nkhw,kc->nhwc", blobs, self.blob_color)

        def reconstruction_loss(self, frames, kp, valid, motion_weight: float = 0.0):
            """Weighted mean squared error of :meth:`render` against ``frames`` (B, T, S, S, 3) uint8 at
            ``valid`` (B, T), from keypoints (B, T, K, 2). A pixel weighs ``1 + motion_weight * d``,
            ``d`` its mean absolute difference (0-1) from the median of its clip's valid frames, so the
            things that move count more than their size alone would make them."""
            x = frames.float().div(255.0)
            weight = torch.ones(x.shape[:-1], device=x.device)  # B T S S
            if motion_weight:
                for i in range(len(x)):
                    clip = x[i, valid[i]]
                    if len(clip):
                        d = (clip - clip.median(0).values).abs().mean(-1)
                        weight[i, valid[i]] = 1.0 + motion_weight * d
            err = (self.render(kp[valid]) - x[valid]).square().mean(-1) * weight[valid]
            return err.sum() / weight[valid].sum().clamp(min=1.0)

        def target_motion(self, target, valid):
            """Mean squared displacement (a scalar) of the visible target's track ``target`` (B, T, 2) from
            its first-frame place over the ``valid`` (B, T) frames: a training loss, because a goal does
            not move; it keeps the target off the moved thing (else "distance travelled from the start"
            would pass for progress)."""
            return (target - target[:, :1]).square().sum(-1)[valid].mean()

        def geometry(self, kp, tokens):
            """keypoints (B, T, K, 2), tokens (B, L) -> (B, T, 4) distance features and the grounded
            points: the goal (B, 1, 2), the moved thing's track (B, T, 2) and the visible target's (B, T, 2)."""
            text = self.encode_text(tokens)
            # the moved thing is chosen by the text among the points that have moved so far in the clip
            # (causal: the running maximum of each point's displacement from its first-frame place)
            moved = (kp - kp[:, :1]).square().sum(-1).add(1e-9).sqrt().cummax(1).values  # (B, T, K)
            pick = torch.softmax(self.mover_select(text)[:, None] + self.cfg.motion_select * moved, -1)  # (B, T, K)
            mover = torch.einsum("btk,btkd->btd", pick, kp)
            mover_start = torch.einsum("btk,bkd->btd", pick, kp[:, 0])  # the same choice at the first frame
            target = torch.einsum("bk,btkd->btd", torch.softmax(self.target_select(text), -1), kp)
            # The visible target is read at the first frame (the moved thing may cover it later).
            # The absolute location stays in the image (tanh): a goal far outside it would turn
            # distance into a projection on a direction, which fits "move toward" without locating.
            location = torch.tanh(self.goal_xy(text))
            goal = (location + torch.sigmoid(self.goal_gate(text)) * target[:, 0])[:, None]  # (B, 1, 2)
            dist = (mover - goal).square().sum(-1).add(1e-6).sqrt()  # (B, T)
            start = (mover_start - goal).square().sum(-1).add(1e-6).sqrt()
            feats = torch.stack([dist, start, dist / (start + 0.05), dist - start], -1)
            return feats, goal, mover, target

        def forward(self, frames, tokens, lengths, with_keypoints: bool = False):
            """frames (B, T, S, S, 3) uint8, tokens (B, L), lengths (B,) -> progress and success logits
            (B, T) and the preference score (B,) at each clip's last valid frame (and the keypoints
            (B, T, K, 2), the maps' spread (B, T, K), the visible target's track (B, T, 2), the goal
            (B, 1, 2) and the moved thing's track (B, T, 2) in a dict if ``with_keypoints``)."""
            B, T = frames.shape[:2]
            kp, spread = self.keypoints(frames.reshape(B * T, *frames.shape[2:]), with_spread=True)
            kp, spread = kp.view(B, T, -1, 2), spread.view(B, T, -1)
            feats, goal, mover, target = self.geometry(kp, tokens)
            h = self.frame_proj(feats)
            h = self.norm(self.temporal(h, mask=causal_mask(T, h.device)))
            progress = (self.progress_head(h) + self.progress_skip(feats)).squeeze(-1)
            success = self.success_head(h).squeeze(-1)
            rows, last = torch.arange(B, device=h.device), lengths - 1
            # the preference score builds on the last frame's progress and success logits, so the
            # comparison loss also orders trajectories by the progress the backend reports
            preference = progress[rows, last] + success[rows, last] + self.preference_head(h[rows, last]).squeeze(-1)
            if with_keypoints:
                return progress, success, preference, {"keypoints": kp, "spread": spread, "target": target,
                                                       "goal": goal, "mover": mover}
            return progress, success, preference

    return SimRMNet(config)


def collate(clips: Sequence[np.ndarray], instructions: Sequence[str], tokenizer: WordTokenizer):
    """Pad clips (T_i, S, S, 3) and token lists into tensors ``(frames, tokens, lengths)``."""
    torch = _torch()
    lengths = [len(c) for c in clips]
    T = max(lengths)
    frames = np.zeros((len(clips), T, *clips[0].shape[1:]), np.uint8)
    for i, c in enumerate(clips):
        frames[i, :len(c)] = c
    return torch.from_numpy(frames), collate_tokens(instructions, tokenizer), torch.tensor(lengths)


def collate_tokens(instructions: Sequence[str], tokenizer: WordTokenizer):
    """(B, L) int64 tensor of the instructions' token ids, padded with 0."""
    ids = [tokenizer.encode(t) for t in instructions]
    tokens = np.zeros((len(ids), max(map(len, ids))), np.int64)
    for i, t in enumerate(ids):
        tokens[i, :len(t)] = t
    return _torch().from_numpy(tokens)


def save_checkpoint(net, config: SimRMConfig, out_dir: str | Path) -> Path:
    """Write ``model.safetensors`` and ``config.json`` into ``out_dir``."""
    from safetensors.torch import save_file

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    save_file({k: v.detach().contiguous() for k, v in net.state_dict().items()}, str(out / WEIGHTS))
    (out / CONFIG).write_text(config.to_json())
    return out


def load_checkpoint(path: str | Path):
    """``(net, config)`` from a checkpoint folder; FileNotFoundError naming what is missing."""
    from safetensors.torch import load_file

    root = Path(path)
    for name in (CONFIG, WEIGHTS):
        if not (root / name).is_file():
            raise FileNotFoundError(f"sim-rm checkpoint {root} has no {name}; train one with "
                                    f"`vlmreward rm-train --data DIR --out {root}`")
    config = SimRMConfig.from_json((root / CONFIG).read_text())
    net = build_net(config)
    net.load_state_dict(load_file(str(root / WEIGHTS)))
    net.eval()
    return net, config


class SimRewardModel(RewardModel):
    """The ``sim-rm`` backend: ``make_reward_model("sim-rm", path=CKPT_DIR)``.

    Args:
        path: a checkpoint folder written by ``vlmreward rm-train``.
        batch_size: clips per forward pass.
    """

    card = ModelCard(CAPABILITIES, "our CPU reward model (vlmreward rm-train); frames per clip from its checkpoint",
                     weights="path=<folder written by vlmreward rm-train>")
    CACHE_SIZE = 8192  #: frames whose cnn features are kept (about 0.4 KB each)

    def __init__(self, path: str | Path, batch_size: int = 16, name: str = "sim-rm"):
        from vlmreward_gym.rm.data import resize_frames

        self._resize = resize_frames
        self.path = Path(path)
        self.net, self.config = load_checkpoint(self.path)
        self.tokenizer = WordTokenizer(self.config.vocab)
        self.batch_size = int(batch_size)
        self._cache: OrderedDict = OrderedDict()
        self.info = ModelInfo(name=name, capabilities=CAPABILITIES, num_frames=self.config.num_frames,
                              frame_size=(self.config.frame_size, self.config.frame_size), score_range=(1.0, 5.0))

    def scores(self, clips: Sequence[np.ndarray], instructions: Sequence[str]) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
        """Per-frame progress ``(T_i,)`` and success ``(T_i,)`` probabilities and the preference score ``(B,)``."""
        torch = _torch()
        progress, success, preference = [], [], []
        for start in range(0, len(clips), self.batch_size):
            chunk, texts = clips[start:start + self.batch_size], instructions[start:start + self.batch_size]
            keeps = [subsample_indices(len(clip), self.config.max_frames) for clip in chunk]
            with torch.no_grad():
                if self.config.encoder == "cnn":  # frame features from the cache, the temporal half run anew
                    tokens = collate_tokens(texts, self.tokenizer)
                    text = self.net.encode_text(tokens)
                    feats = [self._frame_features(clip[keep], text[i], tokens[i])
                             for i, (clip, keep) in enumerate(zip(chunk, keeps))]
                    lengths = torch.tensor([len(f) for f in feats])
                    padded = torch.zeros(len(feats), int(lengths.max()), feats[0].shape[-1])
                    for i, f in enumerate(feats):
                        padded[i, :len(f)] = f
                    p, s, pref = self.net.heads(padded, text, lengths)
                else:
                    batch = [self._resize(clip[keep], self.config.frame_size) for clip, keep in zip(chunk, keeps)]
                    p, s, pref = self.net(*collate(batch, texts, self.tokenizer))
            p, s = torch.sigmoid(p).double().numpy(), torch.sigmoid(s).double().numpy()
            for i, (clip, keep) in enumerate(zip(clips[start:start + self.batch_size], keeps)):
                n = len(keep)
                if n == len(clip):
                    progress.append(p[i, :n]), success.append(s[i, :n])
                else:  # interpolate the subsampled answers back onto every frame
                    progress.append(np.interp(np.arange(len(clip)), keep, p[i, :n]))
                    success.append(np.interp(np.arange(len(clip)), keep, s[i, :n]))
            preference.extend(pref.double().numpy().tolist())
        return progress, success, np.array(preference)

    def _frame_features(self, frames: np.ndarray, text, tokens):
        """(T, H, W, 3) uint8 frames of one clip -> (T, F) features of the cnn encoder, each frame computed once
        per instruction: a reward query during an episode re-sends the frames it sent before, so only the new
        ones cost a CNN pass (an LRU cache of :attr:`CACHE_SIZE` frames, keyed by the frame's bytes)."""
        import hashlib

        torch = _torch()
        key_text = tuple(t for t in tokens.tolist() if t)  # without the batch's padding
        keys = [(hashlib.blake2b(f.tobytes(), digest_size=16).digest(), f.shape, key_text) for f in frames]
        missing = [i for i, k in enumerate(keys) if k not in self._cache]
        if missing:
            small = torch.from_numpy(self._resize(frames[missing], self.config.frame_size))
            computed = self.net.frame_features(small, text[None].expand(len(missing), -1))
            for i, row in zip(missing, computed):
                self._cache[keys[i]] = row
        out = []
        for k in keys:
            self._cache.move_to_end(k)
            out.append(self._cache[k])
        while len(self._cache) > self.CACHE_SIZE:
            self._cache.popitem(last=False)
        return torch.stack(out)

    def _predict(self, query: RewardQuery) -> RewardOutput:
        progress, success, preference = self.scores(query.frames, query.instructions)
        last_p = np.array([p[-1] for p in progress])
        last_s = np.array([s[-1] for s in success])
        before = np.array([p[-2] if len(p) > 1 else p[-1] for p in progress])
        comparison = np.clip(self.config.compare_gain * (last_p - before), -1.0, 1.0)
        raw = tuple({"preference": float(v), "success_prob": float(s)} for v, s in zip(preference, last_s))
        return RewardOutput(progress=tuple(np.clip(p, 0.0, 1.0) for p in progress), success=np.clip(last_s, 0.0, 1.0),
                            comparison=comparison, score=rubric_score(last_p, last_s >= 0.5), raw=raw)


# ------------------------------------------------------------------------------ shipped checkpoints

#: The checkpoints that ship inside the package (``vlmreward_gym/checkpoints/<name>/``): name -> what it was
#: trained on. Each loads by name with no path (``make_reward_model("sim-rm-robomimic")``); the command that
#: retrains one is ``python -m vlmreward_rl.recipes.reward_models train <name>`` (docs/reward-models.md).
SHIPPED = {
    "sim-rm-robomimic": "Robomimic Lift, Can and Square: agentview frames at 64 px, scripted experts and failures",
    "sim-rm-lift": "Robomimic Lift alone: agentview frames at 64 px, scripted experts and failures and BC policies' "
                   "rollouts",
    "sim-rm-lift-side": "Robomimic Lift alone, from the side: our lift_side camera at 64 px (a lifted cube shows a gap "
                        "under it), scripted experts and failures and BC policies' rollouts",
    "sim-rm-pickcube": "ManiSkill3 PickCube alone: our workspace view at 64 px, motion-planner experts, noisy and "
                       "early-stopped plans, random episodes and failures",
}


def shipped_checkpoint(name: str) -> Path:
    """The folder of the shipped checkpoint ``name``; FileNotFoundError naming the retrain command if absent."""
    from importlib.resources import files

    if name not in SHIPPED:
        raise KeyError(f"no shipped sim-rm checkpoint {name!r}; shipped: {sorted(SHIPPED)}")
    root = Path(str(files("vlmreward_gym") / "checkpoints" / name))
    if not (root / WEIGHTS).is_file():
        raise FileNotFoundError(f"the shipped checkpoint {name} is missing from {root} (an incomplete install?); "
                                f"retrain it with `python -m vlmreward_rl.recipes.reward_models train {name}`")
    return root


def _shipped(name: str):
    def make(batch_size: int = 16) -> SimRewardModel:
        return SimRewardModel(shipped_checkpoint(name), batch_size=batch_size, name=name)

    make.__doc__ = f"``{name}``: the shipped sim-rm checkpoint for {SHIPPED[name]}."
    make.card = ModelCard(CAPABILITIES, f"our shipped CPU reward model: {SHIPPED[name]}", weights="shipped in the package")
    return make


make_robomimic = _shipped("sim-rm-robomimic")
make_lift = _shipped("sim-rm-lift")
make_lift_side = _shipped("sim-rm-lift-side")
make_pickcube = _shipped("sim-rm-pickcube")
