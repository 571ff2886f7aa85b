"""``sim-rm``: our own small video-language reward model, trained on the CPU (``vlmreward rm-train``).

Architecture (:class:`SimRMNet`), for a clip of ``T`` frames at ``S x S`` and one instruction:

- frame encoder: a 4-layer CNN (GroupNorm) over each frame stacked with the clip's first frame and
  two coordinate channels (8 input channels), read out by a spatial softmax (the expected x, y
  and the peak of each of ``keypoints`` maps), then an MLP to ``dim``;
- instruction encoder: a learned embedding of :class:`WordTokenizer` tokens (built from the
  training instructions, saved with the checkpoint; no download), mean-pooled, then an MLP;
- fusion: ``token_t = GELU(W [frame_t, text] + frame_t * U text)``;
- a causal temporal transformer (frame ``t`` sees frames ``0..t``, so per-frame progress does not
  change when later frames arrive, and a clipped video gets its prefix's answers);
- heads: per-frame progress (sigmoid), per-frame success (sigmoid), and a preference score at the
  last frame for trajectory comparisons (its own head plus the last progress and success logits).

The backend answers PROGRESS (per frame), SUCCESS (last frame), COMPARE (``clip(k * (p_T - p_{T-1}),
-1, 1)`` from the progress head) and EPISODE_SCORE (the 1-5 rubric of the last frame's progress
and success). A checkpoint folder holds ``model.safetensors`` and ``config.json`` (architecture,
vocabulary, training summary).
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from vlmreward_gym.models.base import ModelInfo, RewardModel
from vlmreward_gym.models.control import rubric_score
from vlmreward_gym.types import Capability, RewardOutput, RewardQuery

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
    frame_size: int = 64
    num_frames: int = 16  #: frames per clip in training; wrappers subsample to this
    max_frames: int = 64  #: longer clips are subsampled to this and the answers interpolated back
    dim: int = 128
    text_dim: int = 64
    layers: int = 2
    heads: int = 4
    channels: tuple[int, ...] = (16, 32, 32)
    keypoints: int = 16  #: spatial-softmax keypoints of the frame encoder
    compare_gain: float = 10.0  #: comparison = clip(gain * progress change, -1, 1)
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


def build_net(config: SimRMConfig):
    """The :class:`SimRMNet` torch module of ``config`` (torch imported here, so listing backends stays cheap)."""
    torch = _torch()
    nn = torch.nn

    class SimRMNet(nn.Module):
        def __init__(self, cfg: SimRMConfig):
            super().__init__()
            self.cfg = cfg
            c0, c1, c2 = cfg.channels
            k = cfg.keypoints
            self.cnn = nn.Sequential(
                nn.Conv2d(8, c0, 5, stride=2, padding=2), nn.GroupNorm(4, c0), nn.GELU(),
                nn.Conv2d(c0, c1, 3, padding=1), nn.GroupNorm(4, c1), nn.GELU(),
                nn.Conv2d(c1, c2, 3, stride=2, padding=1), nn.GroupNorm(4, c2), nn.GELU(),
                nn.Conv2d(c2, k, 3, padding=1))
            self.frame_proj = nn.Sequential(nn.Linear(3 * k, cfg.dim), nn.GELU(), nn.Linear(cfg.dim, cfg.dim))
            grid = torch.linspace(-1, 1, cfg.frame_size)
            self.register_buffer("coords", torch.stack(torch.meshgrid(grid, grid, indexing="ij"))[None], persistent=False)
            self.embed = nn.Embedding(len(cfg.vocab), cfg.text_dim, padding_idx=0)
            self.text = nn.Sequential(nn.Linear(cfg.text_dim, cfg.dim), nn.GELU(), nn.Linear(cfg.dim, cfg.dim))
            self.fuse = nn.Linear(2 * cfg.dim, cfg.dim)
            self.gate = nn.Linear(cfg.dim, cfg.dim)
            layer = nn.TransformerEncoderLayer(cfg.dim, cfg.heads, 2 * cfg.dim, dropout=0.0, batch_first=True,
                                               norm_first=True, activation="gelu")
            self.temporal = nn.TransformerEncoder(layer, cfg.layers, enable_nested_tensor=False)
            self.norm = nn.LayerNorm(cfg.dim)
            self.progress_head = nn.Linear(cfg.dim, 1)
            self.success_head = nn.Linear(cfg.dim, 1)
            self.preference_head = nn.Linear(cfg.dim, 1)

        def keypoints(self, maps):
            """Spatial softmax: (N, K, h, w) maps -> (N, 3K) expected x, y of each map and its peak."""
            N, K, h, w = maps.shape
            attn = torch.softmax(maps.flatten(2), -1).view(N, K, h, w)
            ys, xs = torch.linspace(-1, 1, h), torch.linspace(-1, 1, w)
            x = (attn.sum(2) * xs).sum(-1)
            y = (attn.sum(3) * ys).sum(-1)
            return torch.cat([x, y, maps.flatten(2).amax(-1)], -1)

        def encode_text(self, tokens):
            """(B, L) int64 ids -> (B, dim)."""
            mask = (tokens != 0).float()[..., None]
            pooled = (self.embed(tokens) * mask).sum(1) / mask.sum(1).clamp(min=1.0)
            return self.text(pooled)

        def forward(self, frames, tokens, lengths):
            """frames (B, T, S, S, 3) uint8, tokens (B, L), lengths (B,) -> progress and success logits
            (B, T) and the preference score (B,) at each clip's last valid frame."""
            B, T = frames.shape[:2]
            x = frames.float().div(255.0).permute(0, 1, 4, 2, 3)  # B T 3 S S
            first = x[:, :1].expand_as(x)
            coords = self.coords.expand(B * T, -1, -1, -1)
            x = torch.cat([x.reshape(B * T, 3, *x.shape[-2:]), first.reshape(B * T, 3, *x.shape[-2:]), coords], 1)
            f = self.frame_proj(self.keypoints(self.cnn(x))).view(B, T, -1)
            z = self.encode_text(tokens)[:, None].expand(-1, T, -1)
            h = nn.functional.gelu(self.fuse(torch.cat([f, z], -1)) + f * self.gate(z))
            causal = torch.triu(torch.full((T, T), float("-inf"), device=h.device), diagonal=1)
            h = self.norm(self.temporal(h, mask=causal))
            progress, success = self.progress_head(h).squeeze(-1), self.success_head(h).squeeze(-1)
            rows, last = torch.arange(B, device=h.device), lengths - 1
            # the preference score builds on the last frame's progress and success logits, so the
            # comparison loss also orders trajectories by the progress the backend reports
            preference = progress[rows, last] + success[rows, last] + self.preference_head(h[rows, last]).squeeze(-1)
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
    ids = [tokenizer.encode(t) for t in instructions]
    tokens = np.zeros((len(ids), max(map(len, ids))), np.int64)
    for i, t in enumerate(ids):
        tokens[i, :len(t)] = t
    return torch.from_numpy(frames), torch.from_numpy(tokens), torch.tensor(lengths)


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

    def __init__(self, path: str | Path, batch_size: int = 16):
        from vlmreward_gym.rm.data import resize_frames

        self._resize = resize_frames
        self.path = Path(path)
        self.net, self.config = load_checkpoint(self.path)
        self.tokenizer = WordTokenizer(self.config.vocab)
        self.batch_size = int(batch_size)
        self.info = ModelInfo(name="sim-rm", capabilities=CAPABILITIES, num_frames=self.config.num_frames,
                              frame_size=(self.config.frame_size, self.config.frame_size), score_range=(1.0, 5.0))

    def scores(self, clips: Sequence[np.ndarray], instructions: Sequence[str]) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
        """Per-frame progress ``(T_i,)`` and success ``(T_i,)`` probabilities and the preference score ``(B,)``."""
        from vlmreward_gym.wrappers.frames import subsample_indices

        torch = _torch()
        progress, success, preference = [], [], []
        for start in range(0, len(clips), self.batch_size):
            batch, keeps = [], []
            for clip in clips[start:start + self.batch_size]:
                keep = subsample_indices(len(clip), self.config.max_frames)
                keeps.append(keep)
                batch.append(self._resize(clip[keep], self.config.frame_size))
            frames, tokens, lengths = collate(batch, instructions[start:start + self.batch_size], self.tokenizer)
            with torch.no_grad():
                p, s, pref = self.net(frames, tokens, lengths)
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

    def _predict(self, query: RewardQuery) -> RewardOutput:
        progress, success, preference = self.scores(query.frames, query.instructions)
        last_p = np.array([p[-1] for p in progress])
        last_s = np.array([s[-1] for s in success])
        before = np.array([p[-2] if len(p) > 1 else p[-1] for p in progress])
        comparison = np.clip(self.config.compare_gain * (last_p - before), -1.0, 1.0)
        raw = tuple({"preference": float(v), "success_prob": float(s)} for v, s in zip(preference, last_s))
        return RewardOutput(progress=tuple(np.clip(p, 0.0, 1.0) for p in progress), success=np.clip(last_s, 0.0, 1.0),
                            comparison=comparison, score=rubric_score(last_p, last_s >= 0.5), raw=raw)
