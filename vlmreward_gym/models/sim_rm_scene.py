"""The ``cnn`` encoder of ``sim-rm``: a video-language reward net for rendered 3-D scenes (Robomimic, ManiSkill3).

PointReach's keypoint net (:mod:`vlmreward_gym.models.sim_rm`) grounds an instruction as a point in the image;
in a 3-D scene progress is not a 2-D distance (a cube lifted 5 cm moves a few pixels; a grasp changes no
position), so this net learns what to look at instead. For a clip of ``T`` frames at ``S x S`` and one
instruction:

- instruction: the mean of learned word embeddings (:class:`~vlmreward_gym.models.sim_rm.WordTokenizer` ids),
  ``text_dim`` wide;
- frame encoder: two strided convolutions down to ``S / 4``, that feature map modulated by the instruction
  (FiLM: a per-channel scale and shift linear in the text, zero at initialisation), then two branches:
  ``keypoints`` spatial-softmax maps at ``S / 4`` read out as expected ``(x, y)`` positions (where things are;
  sub-pixel, so a cube lifted by a pixel moves its point), and two more convolutions down to ``S / 8`` whose
  channels' spatial means say what is there;
- per-frame token: the frame's features, their change since the clip's first frame (progress is relative to
  where the episode began) and the instruction, projected to ``dim``;
- the causal temporal transformer and heads of the keypoint net: per-frame progress and success logits and a
  preference score at the last valid frame (the last progress and success logits plus a head of its own).

Cost at ``S = 64``, channels (32, 64): about 15 M multiply-adds a frame, ~1-2 ms on one core.
"""

from __future__ import annotations

import torch
from torch import nn

from vlmreward_gym.models.sim_rm import SimRMConfig, causal_mask, temporal_encoder


def spatial_softmax(maps: torch.Tensor) -> torch.Tensor:
    """(N, K, h, w) logits -> (N, K, 2) expected (x, y) in [-1, 1] of each map's softmax (x right, y down)."""
    N, K, h, w = maps.shape
    attn = torch.softmax(maps.flatten(2), -1).view(N, K, h, w)
    xs = (attn.sum(2) * torch.linspace(-1, 1, w, device=maps.device)).sum(-1)
    ys = (attn.sum(3) * torch.linspace(-1, 1, h, device=maps.device)).sum(-1)
    return torch.stack([xs, ys], -1)


class SceneRMNet(nn.Module):
    """``sim-rm`` with the ``cnn`` encoder; ``forward`` has the keypoint net's signature and outputs."""

    def __init__(self, cfg: SimRMConfig):
        super().__init__()
        if cfg.encoder != "cnn":
            raise ValueError(f"SceneRMNet is the 'cnn' encoder, got a config for {cfg.encoder!r}")
        if len(cfg.channels) != 2:
            raise ValueError(f"the cnn encoder takes channels=(stem, body), got {cfg.channels}")
        self.cfg = cfg
        c1, c2 = cfg.channels
        self.embed = nn.Embedding(len(cfg.vocab), cfg.text_dim, padding_idx=0)
        self.stem = nn.Sequential(nn.Conv2d(3, c1, 5, stride=2, padding=2), nn.GELU(),
                                  nn.Conv2d(c1, c2, 3, stride=2, padding=1), nn.GELU())
        self.film = nn.Linear(cfg.text_dim, 2 * c2)
        nn.init.zeros_(self.film.weight)
        nn.init.zeros_(self.film.bias)
        # keypoint maps at S / 4 (a lifted cube moves a pixel or two at S = 64: a coarser map would blur that)
        self.maps = nn.Sequential(nn.Conv2d(c2, c2, 3, padding=1), nn.GELU(), nn.Conv2d(c2, cfg.keypoints, 1))
        self.body = nn.Sequential(nn.Conv2d(c2, c2, 3, stride=2, padding=1), nn.GELU(),
                                  nn.Conv2d(c2, c2, 3, padding=1), nn.GELU())
        self.features = 2 * cfg.keypoints + c2
        self.frame_proj = nn.Sequential(nn.Linear(2 * self.features + cfg.text_dim, cfg.dim), nn.GELU(),
                                        nn.Linear(cfg.dim, cfg.dim))
        self.temporal, self.norm = temporal_encoder(cfg)
        self.progress_head = nn.Linear(cfg.dim, 1)
        self.success_head = nn.Linear(cfg.dim, 1)
        self.preference_head = nn.Linear(cfg.dim, 1)

    def encode_text(self, tokens: torch.Tensor) -> torch.Tensor:
        """(B, L) int64 ids (0 = padding) -> (B, text_dim): the mean of the word embeddings."""
        count = (tokens != 0).sum(1, keepdim=True).clamp(min=1)
        return self.embed(tokens).sum(1) / count

    def frame_features(self, frames: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        """(N, S, S, 3) uint8 frames and (N, text_dim) instructions -> (N, 2 * keypoints + channels) features."""
        x = frames.float().div(255.0).sub(0.5).permute(0, 3, 1, 2)
        h = self.stem(x)
        scale, shift = self.film(text)[..., None, None].chunk(2, 1)
        h = h * (1 + scale) + shift
        return torch.cat([spatial_softmax(self.maps(h)).flatten(1), self.body(h).mean((2, 3))], -1)

    def forward(self, frames, tokens, lengths, with_keypoints: bool = False):
        """frames (B, T, S, S, 3) uint8, tokens (B, L), lengths (B,) -> progress and success logits (B, T) and
        the preference score (B,) at each clip's last valid frame (plus an empty dict if ``with_keypoints``:
        this encoder has no keypoint losses)."""
        B, T = frames.shape[:2]
        text = self.encode_text(tokens)
        f = self.frame_features(frames.reshape(B * T, *frames.shape[2:]), text.repeat_interleave(T, 0)).view(B, T, -1)
        return self.heads(f, text, lengths, with_keypoints)

    def heads(self, f: torch.Tensor, text: torch.Tensor, lengths: torch.Tensor, with_keypoints: bool = False):
        """Per-frame features (B, T, F) of :meth:`frame_features`, instructions (B, text_dim), lengths (B,) -> the
        outputs of :meth:`forward` (the temporal half of the net; frame features can be cached across calls)."""
        B, T = f.shape[:2]
        x = torch.cat([f, f - f[:, :1], text[:, None].expand(B, T, -1)], -1)
        h = self.norm(self.temporal(self.frame_proj(x), mask=causal_mask(T, x.device)))
        progress = self.progress_head(h).squeeze(-1)
        success = self.success_head(h).squeeze(-1)
        rows, last = torch.arange(B, device=h.device), lengths - 1
        preference = progress[rows, last] + success[rows, last] + self.preference_head(h[rows, last]).squeeze(-1)
        if with_keypoints:
            return progress, success, preference, {}
        return progress, success, preference


def build_scene_net(config: SimRMConfig) -> SceneRMNet:
    """The ``cnn``-encoder net of ``config``."""
    return SceneRMNet(config)
