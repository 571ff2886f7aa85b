"""pi0 as a DSRL noise policy: transformers' PI0 flow-matching model steered through its input noise.

    policy = Pi0NoisePolicy.from_pretrained("path/to/pi0", act_dim=7)
    chunk = policy.sample([{"state": s, "images": [agentview, wrist], "instruction": "lift the cube"}], noise)

``PI0ForConditionalGeneration.sample_actions`` integrates the flow from a given noise
(B, chunk_size, max_action_dim) with a fixed Euler schedule, so (observation, noise) -> chunk is
deterministic, as DSRL needs (:class:`vlmreward_rl.algos.dsrl.ChunkRunner` drives this policy). The
noise covers all ``max_action_dim`` columns; the env executes the first ``act_dim``.

Inputs are prepared without torchvision (PI0's own image processor needs it): images are resized
with PIL to the vision tower's size and normalised with mean 0.5 / std 0.5 (PaliGemma's SigLIP),
the prompt is PaliGemma's ``<image> * n_tokens + instruction + "\\n"``, left-padded, and the state
is zero-padded to ``max_state_dim``. The tokenizer is the checkpoint's own (``AutoTokenizer`` from
the same folder) unless one is passed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch


def prepare_images(images: Sequence[np.ndarray], size: int) -> torch.Tensor:
    """uint8 (H, W, 3) images -> float32 (N, 3, size, size) in [-1, 1] (PIL bilinear resize)."""
    from PIL import Image

    out = []
    for image in images:
        image = np.asarray(image, np.uint8)
        if image.shape[:2] != (size, size):
            image = np.asarray(Image.fromarray(image).resize((size, size), Image.BILINEAR))
        out.append(torch.from_numpy(image.astype(np.float32) / 127.5 - 1.0).permute(2, 0, 1))
    return torch.stack(out)


class Pi0NoisePolicy:
    """A :class:`vlmreward_rl.algos.dsrl.NoisePolicy` over ``PI0ForConditionalGeneration``.

    Observations are dicts: ``state`` (S,) float, ``images`` a list of uint8 (H, W, 3) camera
    images (at most ``max_cameras``), ``instruction`` str.

    Args:
        model: the PI0 model (put in eval mode).
        tokenize: text -> token ids (an HF tokenizer or any callable returning ids or ``{"input_ids": ids}``).
        act_dim: action dimensions the env executes (default: all ``max_action_dim``).
        num_steps: flow integration steps (default: the model config's ``num_inference_steps``).
        max_cameras: camera slots per observation (missing ones are masked out).
        pad_token_id: id used to left-pad prompts of different length.
    """

    def __init__(self, model: Any, tokenize: Callable[[str], Any], act_dim: int | None = None,
                 num_steps: int | None = None, max_cameras: int = 1, pad_token_id: int = 0):
        self.model, self.tokenize = model.eval(), tokenize
        config = model.config
        self.chunk_size, self.max_action_dim, self.max_state_dim = (config.chunk_size, config.max_action_dim,
                                                                    config.max_state_dim)
        self.act_dim = int(act_dim or self.max_action_dim)
        self.num_steps, self.max_cameras, self.pad_token_id = num_steps, int(max_cameras), int(pad_token_id)
        vision = config.vlm_config.vision_config
        self.image_size = int(vision.image_size)
        self.image_token_id = int(config.vlm_config.image_token_id)
        self.tokens_per_image = (self.image_size // int(vision.patch_size)) ** 2

    @property
    def noise_shape(self) -> tuple[int, int]:
        return (self.chunk_size, self.max_action_dim)

    @property
    def action_shape(self) -> tuple[int, int]:
        return (self.chunk_size, self.act_dim)

    @classmethod
    def from_pretrained(cls, path: str | Path, tokenizer: Callable[[str], Any] | None = None,
                        **kwargs: Any) -> "Pi0NoisePolicy":
        """Load the PI0 weights (safetensors) and, unless given, the tokenizer saved in ``path``."""
        from transformers import PI0ForConditionalGeneration

        model = PI0ForConditionalGeneration.from_pretrained(str(path))
        if tokenizer is None:
            from transformers import AutoTokenizer

            tokenizer = AutoTokenizer.from_pretrained(str(path))
            kwargs.setdefault("pad_token_id", tokenizer.pad_token_id or 0)
        return cls(model, tokenizer, **kwargs)

    def _ids(self, text: str) -> list[int]:
        ids = self.tokenize(text + "\n")
        ids = ids["input_ids"] if isinstance(ids, Mapping) else ids
        return [int(i) for i in np.asarray(ids).reshape(-1)]

    def prepare(self, observations: Sequence[Mapping[str, Any]]) -> dict[str, torch.Tensor]:
        """The keyword inputs of ``sample_actions`` for a batch of observation dicts."""
        B = len(observations)
        state = torch.zeros(B, self.max_state_dim)
        pixels = torch.zeros(B, self.max_cameras, 3, self.image_size, self.image_size)
        camera_mask = torch.zeros(B, self.max_cameras, dtype=torch.bool)
        prompts = []
        for b, obs in enumerate(observations):
            s = torch.as_tensor(np.asarray(obs["state"], np.float32)).reshape(-1)[:self.max_state_dim]
            state[b, :s.numel()] = s
            images = list(obs["images"])[:self.max_cameras]
            if not images:
                raise ValueError("pi0 needs at least one camera image per observation")
            pixels[b, :len(images)] = prepare_images(images, self.image_size)
            camera_mask[b, :len(images)] = True
            prompts.append([self.image_token_id] * (self.tokens_per_image * len(images)) + self._ids(obs["instruction"]))
        length = max(len(p) for p in prompts)
        input_ids = torch.full((B, length), self.pad_token_id, dtype=torch.long)
        attention_mask = torch.zeros(B, length, dtype=torch.long)
        for b, prompt in enumerate(prompts):
            input_ids[b, length - len(prompt):] = torch.tensor(prompt)
            attention_mask[b, length - len(prompt):] = 1
        return {"state": state, "input_ids": input_ids, "pixel_values": pixels, "pixel_attention_mask": camera_mask,
                "attention_mask": attention_mask}

    @torch.no_grad()
    def sample(self, observations: Sequence[Mapping[str, Any]], noise: torch.Tensor | None = None) -> torch.Tensor:
        """Action chunks (B, chunk_size, act_dim) from observation dicts and noise (B, chunk_size, max_action_dim)."""
        inputs = self.prepare(observations)
        if noise is not None:
            noise = torch.as_tensor(noise, dtype=torch.float32)
            if noise.shape != (len(observations), *self.noise_shape):
                raise ValueError(f"noise must be (B, {self.chunk_size}, {self.max_action_dim}), got {tuple(noise.shape)}")
        actions = self.model.sample_actions(**inputs, noise=noise, num_steps=self.num_steps)
        return actions[..., :self.act_dim].float()
