"""Robometer (``robometer-4b``): per-frame progress and success probability from up to 8 frames.

Facts used (sources; github.com/robometer/robometer and huggingface.co/robometer/Robometer-4B):
- Architecture: a Qwen3-VL ``Qwen3VLModel`` (attribute ``model``) plus three heads, each
  ``Linear(h, h/2) -> LayerNorm -> GELU -> Dropout -> Linear(h/2, k)``: ``progress_head`` (k = 1 with
  a final Sigmoid, or k = bins logits when the progress loss is "discrete"), ``success_head``
  (k = 1, a logit), ``preference_head`` (k = 1); and ``frame_pool_attn`` ``Linear(h, 1)``
  (robometer/models/heads.py, robometer/models/rbm.py).
- The checkpoint ships ``config.yaml`` whose ``model`` section selects the input layout:
  ``use_multi_image`` (frames as images) with ``use_per_frame_progress_token`` (a
  ``<|prog_token|>`` text entry after every image; the heads read its hidden state) or
  ``frame_pooling`` mean/boundary/attention over each image's tokens; else video mode, which reads
  ``tokens_per_frame`` blocks after the first ``<|vision_start|>`` (last token or mean when
  ``average_temporal_patches``) (rbm.py).
- Heads read ``hidden_states[-1]`` of the base model; success probability = sigmoid(logit);
  discrete progress = softmax(logits) . linspace(0, 1, bins) (robometer/evals/eval_server.py
  ``compute_batch_outputs``, robometer/models/utils.py ``convert_bins_to_continuous``).
- Prompt of a progress sample: the text below, then the frames, chat template with
  ``add_vision_id=True`` and no generation prompt, right padding
  (robometer/data/collators/rbm_heads.py, robometer/utils/setup_utils.py).
- Special tokens added to the tokenizer: <|split_token|>, <|reward_token|>, <|pref_token|>,
  <|sim_token|>, <|prog_token|> (setup_utils.py); at most 8 frames (README ``max_frames=8``);
  licence Apache-2.0 (model card).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from vlmreward_gym.models.base import ModelInfo, RewardModel
from vlmreward_gym.models.qwen_video import (QwenInputs, VideoSpec, default_dtype, frame_seconds,
                                             import_torch_transformers, load_error, resolve_weights, subsample,
                                             to_device)
from vlmreward_gym.types import Capability, RewardOutput, RewardQuery

HUB_ID = "robometer/Robometer-4B"
PROMPT = ("The task for the robot is '{task}'. Given the trajectory video, predict the task progress at each frame, "
          "how far along the robot is towards completing the task, a float between 0 and 1, where 0 is the starting "
          "state and 1 is when the task is completed. If the robot is not performing the same task, predict 0 "
          "progress.")
PROG_TOKEN = "<|prog_token|>"


def read_settings(folder: Path) -> dict[str, Any]:
    """The head/input settings from the checkpoint's ``config.yaml``."""
    import yaml

    file = folder / "config.yaml"
    if not file.is_file():
        raise FileNotFoundError(f"Robometer checkpoint {folder} has no config.yaml (the robometer ExperimentConfig)")

    class Loader(yaml.SafeLoader):  # tolerate python-object tags in the saved config
        pass

    Loader.add_multi_constructor("tag:yaml.org,2002:python/", lambda loader, suffix, node: (
        loader.construct_mapping(node) if isinstance(node, yaml.MappingNode) else None))
    raw = yaml.load(file.read_text(), Loader=Loader) or {}
    model, loss = raw.get("model") or {}, raw.get("loss") or {}
    discrete = str(model.get("progress_loss_type", loss.get("progress_loss_type", "l2"))).lower() == "discrete"
    return {
        "base_model_id": str(model.get("base_model_id", "Qwen3-VL")),
        "use_multi_image": bool(model.get("use_multi_image", False)),
        "use_per_frame_progress_token": bool(model.get("use_per_frame_progress_token", False)),
        "average_temporal_patches": bool(model.get("average_temporal_patches", False)),
        "frame_pooling": str(model.get("frame_pooling", "mean")),
        "frame_pooling_attn_temperature": float(model.get("frame_pooling_attn_temperature", 1.0)),
        "discrete_bins": int(model.get("progress_discrete_bins") or loss.get("progress_discrete_bins") or 10)
        if discrete else None,
    }


def _head(nn: Any, hidden: int, out: int, sigmoid: bool) -> Any:
    layers = [nn.Linear(hidden, hidden // 2), nn.LayerNorm(hidden // 2), nn.GELU(), nn.Dropout(0.1),
              nn.Linear(hidden // 2, out)]
    return nn.Sequential(*layers, *([nn.Sigmoid()] if sigmoid else []))


class RobometerModel(RewardModel):
    """Robometer: a Qwen3-VL body with progress / success / preference heads, loaded from safetensors.

    Args:
        path: checkpoint directory (config.json, config.yaml, tokenizer, preprocessor configs,
            ``*.safetensors``) or a hub id (downloaded with ``huggingface_hub.snapshot_download``).
        device, dtype: e.g. ``"cuda:0"``, ``"bfloat16"`` (default float32 on CPU, bfloat16 on GPU).
        num_frames: frames per clip (at most 8 as trained; first and last kept).
        fps: frame rate of the env's frames (timestamps in video mode).
    """

    def __init__(self, path: Any = HUB_ID, device: str = "cpu", dtype: Any = None, num_frames: int = 8,
                 fps: float = 1.0):
        torch, transformers = import_torch_transformers("qwen")
        if not 1 <= num_frames <= 8:
            raise ValueError(f"Robometer was trained on at most 8 frames per clip; num_frames={num_frames}")
        self.torch, self.num_frames, self.fps = torch, int(num_frames), float(fps)
        name = "robometer-4b"
        folder = resolve_weights(path, name)
        if not Path(folder).is_dir():
            from huggingface_hub import snapshot_download

            try:
                folder = snapshot_download(folder, allow_patterns=["*.json", "*.yaml", "*.safetensors", "*.txt",
                                                                   "*.jinja", "*.model"])
            except Exception as err:  # noqa: BLE001 - offline, unknown repo, ...
                raise load_error(name, str(path), err) from err
        self.folder = Path(folder)
        self.settings = read_settings(self.folder)
        self.device = str(device)
        self.dtype = default_dtype(torch, self.device, dtype)
        try:
            config = transformers.AutoConfig.from_pretrained(folder)
            self.tokenizer = transformers.AutoTokenizer.from_pretrained(folder)
            image_processor = transformers.Qwen2VLImageProcessorPil.from_pretrained(folder)
        except (OSError, ValueError) as err:
            raise load_error(name, folder, err) from err
        self.net = self._build(torch, transformers, config)
        self._load_weights(torch)
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.inputs = QwenInputs(self.tokenizer, VideoSpec.from_pretrained(folder), image_processor)
        ids = self.tokenizer.convert_tokens_to_ids(["<|vision_start|>", "<|vision_end|>", PROG_TOKEN])
        self.vision_start_id, self.vision_end_id, self.prog_id = ids
        self.merge_size = getattr(config.vision_config, "spatial_merge_size", 2)
        self.info = ModelInfo(name=name, capabilities=Capability.PROGRESS | Capability.SUCCESS,
                              num_frames=self.num_frames, fps=self.fps, device=self.device)

    def _build(self, torch: Any, transformers: Any, config: Any) -> Any:
        nn = torch.nn
        hidden = config.text_config.hidden_size
        bins = self.settings["discrete_bins"]
        net = nn.Module()
        previous = torch.get_default_dtype()
        torch.set_default_dtype(self.dtype)
        try:
            with torch.device(self.device):
                net.model = transformers.Qwen3VLModel(config)
                net.progress_head = _head(nn, hidden, bins or 1, sigmoid=bins is None)
                net.preference_head = _head(nn, hidden, 1, sigmoid=False)
                net.success_head = _head(nn, hidden, 1, sigmoid=False)
                net.frame_pool_attn = nn.Linear(hidden, 1, bias=False)
        finally:
            torch.set_default_dtype(previous)
        return net.eval()

    def _load_weights(self, torch: Any) -> None:
        from safetensors.torch import load_file

        files = sorted(self.folder.glob("*.safetensors"))
        if not files:
            raise FileNotFoundError(f"no *.safetensors weights in Robometer checkpoint {self.folder}")
        state = {}
        for file in files:
            state.update(load_file(str(file), device="cpu"))
        missing, unexpected = self.net.load_state_dict(state, strict=False)
        missing = [k for k in missing if not k.endswith("inv_freq")]
        if missing:
            raise RuntimeError(f"Robometer checkpoint {self.folder} lacks weights: {missing[:8]}"
                               f"{' ...' if len(missing) > 8 else ''}")
        self.unused_weights = list(unexpected)

    # --- inputs -----------------------------------------------------------------------------------------
    def _messages(self, task: str, frames: np.ndarray) -> list[dict[str, Any]]:
        content: list[dict[str, Any]] = [{"type": "text", "text": PROMPT.format(task=task)}]
        if self.settings["use_multi_image"]:
            for _ in frames:
                content.append({"type": "image"})
                if self.settings["use_per_frame_progress_token"]:
                    content.append({"type": "text", "text": PROG_TOKEN})
        else:
            content.append({"type": "video"})
        return [{"role": "user", "content": content}]

    def _predict(self, query: RewardQuery) -> RewardOutput:
        torch = self.torch
        texts, videos, images, kept = [], [], [], []
        for i, (clip, task) in enumerate(zip(query.frames, query.instructions)):
            keep = subsample(len(clip), self.num_frames)
            kept.append(keep)
            texts.append(self.inputs.render(self._messages(task, clip[keep]), add_generation_prompt=False,
                                            add_vision_id=True))
            if self.settings["use_multi_image"]:
                images.append(list(clip[keep]))
            else:
                steps = None if query.timesteps is None else query.timesteps[i][keep]
                videos.append([(clip[keep], frame_seconds(steps, len(keep), self.fps))])
        batch = to_device(self.inputs(texts, videos, images, padding_side="right"), self.device, self.dtype)
        with torch.no_grad():
            out = self.net.model(**batch, output_hidden_states=True, return_dict=True)
            hidden = out.hidden_states[-1]
            per_clip = [self._frame_states(hidden[b], batch["input_ids"][b], batch.get("video_grid_thw"), b)
                        for b in range(len(texts))]
            progress, success, raw = [], [], []
            for b, states in enumerate(per_clip):
                p = self._progress(states)
                s = torch.sigmoid(self.net.success_head(states).squeeze(-1).float()).cpu().numpy()
                frames_p = self._to_frames(p, kept[b], query.lengths[b])
                progress.append(np.clip(frames_p, 0.0, 1.0))
                success.append(float(s[-1]))
                raw.append({"frame_indices": kept[b].tolist(), "progress": p.tolist(), "success_probs": s.tolist()})
        return RewardOutput(progress=tuple(progress), success=np.asarray(success), raw=tuple(raw))

    # --- heads ------------------------------------------------------------------------------------------
    def _frame_states(self, hidden: Any, ids: Any, grids: Any, b: int) -> Any:
        """``(n, hidden)`` states the heads read: one per frame (multi-image) or temporal patch (video)."""
        torch = self.torch
        s = self.settings
        if s["use_multi_image"] and s["use_per_frame_progress_token"]:
            return hidden[ids == self.prog_id]
        starts = (ids == self.vision_start_id).nonzero().flatten().tolist()
        if s["use_multi_image"]:
            ends = (ids == self.vision_end_id).nonzero().flatten().tolist()
            pooled = []
            for a, e in zip(starts, ends):
                span = hidden[a + 1:e]
                if s["frame_pooling"] == "boundary":
                    pooled.append(span[-1])
                elif s["frame_pooling"] == "attention":
                    w = torch.softmax(self.net.frame_pool_attn(span).squeeze(-1) / s["frame_pooling_attn_temperature"], 0)
                    pooled.append((w.unsqueeze(-1) * span).sum(0))
                else:
                    pooled.append(span.mean(0))
            return torch.stack(pooled)
        # video mode, as rbm.py reads it: T blocks of tokens_per_frame after the first <|vision_start|>
        t, h, w = grids[b].tolist()
        per = h * w // self.merge_size ** 2
        start = starts[0]
        if s["average_temporal_patches"]:
            return torch.stack([hidden[start + k * per:start + (k + 1) * per].mean(0) for k in range(t)])
        return hidden[[start + (k + 1) * per for k in range(t)]]

    def _progress(self, states: Any) -> np.ndarray:
        torch = self.torch
        out = self.net.progress_head(states).float()
        if self.settings["discrete_bins"] is None:
            return out.squeeze(-1).cpu().numpy()
        centers = torch.linspace(0.0, 1.0, out.shape[-1], device=out.device)
        return (torch.softmax(out, -1) * centers).sum(-1).cpu().numpy()

    def _to_frames(self, values: np.ndarray, kept: np.ndarray, length: int) -> np.ndarray:
        """Per-frame progress of the whole clip, interpolated from the frames (or patch groups) scored."""
        if len(values) != len(kept):  # video mode: one value per temporal patch of `tps` frames
            tps = math.ceil(len(kept) / len(values))
            values = np.repeat(values, tps)[:len(kept)]
        return np.interp(np.arange(length), kept, values.astype(np.float64))

    def close(self) -> None:
        del self.net
