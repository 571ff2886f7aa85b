"""Robometer (``robometer-4b``): per-frame progress and success probability from up to 8 frames,
and a trajectory preference between two clips (:meth:`RobometerModel.prefer`).

Sources: github.com/robometer/robometer (commit c7f38e2): ``robometer/models/heads.py``,
``robometer/models/rbm.py``, ``robometer/data/collators/rbm_heads.py``,
``robometer/evals/eval_server.py`` (``compute_batch_outputs``), ``robometer/models/utils.py``,
``robometer/utils/save.py`` (``load_model_from_hf``), ``robometer/utils/setup_utils.py``,
``robometer/trainers/rbm_heads_trainer.py``, ``scripts/example_inference_local.py``, README;
huggingface.co/robometer/Robometer-4B (model card, Apache-2.0); LeRobot's port
(github.com/huggingface/lerobot ``src/lerobot/rewards/robometer/configuration_robometer.py``).

Facts used:
- Architecture: a Qwen3-VL ``Qwen3VLModel`` (attribute ``model``) plus three heads, each
  ``Linear(h, h/2) -> LayerNorm -> GELU -> Dropout(0.1) -> Linear(h/2, k)``: ``progress_head``
  (k = 1 with a final Sigmoid, or k = bins logits when the progress loss is "discrete"),
  ``success_head`` (k = 1, a logit), ``preference_head`` (k = 1, a logit); and
  ``frame_pool_attn`` ``Linear(h, 1, bias=False)`` (heads.py, rbm.py). Here the progress head's
  output size is read from the checkpoint's ``progress_head.4.weight`` and checked against
  ``config.yaml`` (the eval code reads the loss section, the heads the model section).
- The published Robometer-4B is multi-image with a per-frame ``<|prog_token|>``, discrete
  progress over 10 bins, at most 8 frames (LeRobot's port defaults, which load that checkpoint).
- ``config.yaml`` (the robometer ExperimentConfig) selects the input layout: the model reads
  ``model.use_multi_image`` / ``use_per_frame_progress_token`` / ``frame_pooling`` /
  ``average_temporal_patches``, the collator ``data.*`` (synced from the checkpoint by
  ``update_cfg_with_pretrained_ckpt``); video mode reads ``tokens_per_frame`` blocks after the
  first ``<|vision_start|>`` (last token, or the mean with ``average_temporal_patches``).
- Heads read ``hidden_states[-1]``; success probability = sigmoid(logit); discrete progress =
  softmax(logits) . linspace(0, 1, bins) (``convert_bins_to_continuous``).
- Progress prompt: the text below, then per frame an image (and ``<|prog_token|>``), or one
  video at ``sample_fps`` 1; chat template with ``add_vision_id=True``, no generation prompt,
  right padding; images sized by qwen-vl-utils, then the processor with ``do_resize=False``
  (rbm_heads.py ``_process_conversation``); video frames at ``data.resized_height/width`` when set.
- Preference prompt (``_process_preference_batch``): the text below (plus a progress request when
  ``training.predict_pref_progress``), "This is Trajectory A. ", clip A, ``<|split_token|>``,
  "This is Trajectory B. ", clip B, "Now predict the preference between the two trajectories.",
  ``<|pref_token|>``; the preference head reads the ``<|pref_token|>`` state and
  sigmoid(logit) is the probability that trajectory A is the better one (BCE against label 1 =
  "first trajectory preferred", rbm_heads_trainer.py ``_compute_preference_loss``).
- Special tokens added to the tokenizer: <|split_token|>, <|reward_token|>, <|pref_token|>,
  <|sim_token|>, <|prog_token|> (setup_utils.py); licence Apache-2.0 (model card).
- Not reproduced: the hub loader picks the repo tag named ``best-*`` with the highest score when
  no revision is given (save.py ``find_best_model_tag``); pass a local folder of the revision you want.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from vlmreward_gym.models.base import ModelCard, ModelInfo, RewardModel
from vlmreward_gym.models.hf_loading import (default_dtype, import_torch_transformers, load_error, resolve_weights,
                                             to_device)
from vlmreward_gym.models.qwen_chat import QwenInputs
from vlmreward_gym.models.qwen_frames import VideoSpec, frame_seconds
from vlmreward_gym.types import (Capability, RewardInputError, RewardOutput, RewardQuery, check_frames,
                                 subsample_indices)

HUB_ID = "robometer/Robometer-4B"
PROMPT = ("The task for the robot is '{task}'. Given the trajectory video, predict the task progress at each frame, "
          "how far along the robot is towards completing the task, a float between 0 and 1, where 0 is the starting "
          "state and 1 is when the task is completed. If the robot is not performing the same task, predict 0 "
          "progress.")
PREF_PROMPT = ("Given these two trajectories for the task '{task}', evaluate which one makes more progress towards the "
               "task. Return A for the first trajectory and B for the second trajectory.")
PREF_PROGRESS_PROMPT = (" Also predict the task progress at each frame of the first trajectory, how far along the robot "
                        "is towards completing the task, a float between 0 and 1, where 0 is the starting state and 1 "
                        "is when the task is completed. If the robot is not performing the same task, predict 0 "
                        "progress.")
SPLIT_TOKEN, PREF_TOKEN = "<|split_token|>", "<|pref_token|>"
PROG_TOKEN = "<|prog_token|>"


def read_settings(folder: Path) -> dict[str, Any]:
    """The head/input settings from the checkpoint's ``config.yaml`` (model section, data as fallback)."""
    import yaml

    file = folder / "config.yaml"
    if not file.is_file():
        raise FileNotFoundError(f"Robometer checkpoint {folder} has no config.yaml (the robometer ExperimentConfig)")

    class Loader(yaml.SafeLoader):  # tolerate python-object tags in the saved config
        pass

    Loader.add_multi_constructor("tag:yaml.org,2002:python/", lambda loader, suffix, node: (
        loader.construct_mapping(node) if isinstance(node, yaml.MappingNode) else None))
    raw = yaml.load(file.read_text(), Loader=Loader) or {}
    model, data, loss = raw.get("model") or {}, raw.get("data") or {}, raw.get("loss") or {}
    training = raw.get("training") or {}

    def get(key: str, default: Any) -> Any:
        return model.get(key, data.get(key, default))

    loss_type = str(loss.get("progress_loss_type", get("progress_loss_type", "l2"))).lower()
    bins = loss.get("progress_discrete_bins") or get("progress_discrete_bins", None) or 10
    size = (data.get("resized_height"), data.get("resized_width"))
    return {
        "base_model_id": str(model.get("base_model_id", "Qwen3-VL")),
        "use_multi_image": bool(get("use_multi_image", False)),
        "use_per_frame_progress_token": bool(get("use_per_frame_progress_token", False)),
        "average_temporal_patches": bool(get("average_temporal_patches", False)),
        "frame_pooling": str(get("frame_pooling", "mean")).lower(),
        "frame_pooling_attn_temperature": float(get("frame_pooling_attn_temperature", 1.0)),
        "discrete_bins": int(bins) if loss_type == "discrete" else None,
        "video_size": tuple(int(v) for v in size) if None not in size else None,
        "predict_pref_progress": bool(training.get("predict_pref_progress", False)),
    }


def progress_outputs(folder: Path) -> int:
    """Output size of the checkpoint's progress head (``progress_head.4.weight`` rows)."""
    from safetensors import safe_open

    for file in sorted(folder.glob("*.safetensors")):
        with safe_open(str(file), framework="pt") as f:
            if "progress_head.4.weight" in f.keys():
                return int(f.get_slice("progress_head.4.weight").get_shape()[0])
    raise RuntimeError(f"Robometer checkpoint {folder} lacks weights: ['progress_head.4.weight']")


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
        fps: video mode only: the ``sample_fps`` that turns frame positions into ``<t seconds>``
            stamps (the collator's 1.0).

    Besides the reward-model protocol (progress, success), :meth:`prefer` compares two clips of
    the same task with the preference head.
    """

    card = ModelCard(Capability.PROGRESS | Capability.SUCCESS,
                     "Robometer (Qwen3-VL with progress and success heads)", num_frames=8, weights=HUB_ID)

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
        self._check_progress_head()
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
        spec = VideoSpec.from_pretrained(folder, frame_size=self.settings["video_size"])
        self.inputs = QwenInputs(self.tokenizer, spec, image_processor, image_sizing="qwen_vl_utils")
        ids = self.tokenizer.convert_tokens_to_ids(["<|vision_start|>", "<|vision_end|>", PROG_TOKEN, PREF_TOKEN])
        self.vision_start_id, self.vision_end_id, self.prog_id, self.pref_id = ids
        self.merge_size = getattr(config.vision_config, "spatial_merge_size", 2)
        self.info = ModelInfo(name=name, capabilities=self.card.capabilities,
                              num_frames=self.num_frames, fps=self.fps, device=self.device)

    def _check_progress_head(self) -> None:
        """Take the number of progress bins from the weights; refuse a ``config.yaml`` that disagrees."""
        out = progress_outputs(self.folder)
        said = self.settings["discrete_bins"]
        if said is not None and out != said:
            raise RuntimeError(f"Robometer checkpoint {self.folder}: config.yaml asks for {said} discrete progress "
                               f"bins but progress_head.4.weight has {out} outputs")
        self.settings["discrete_bins"] = out if out > 1 else None

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
    def _vision(self, frames: np.ndarray) -> list[dict[str, Any]]:
        """Content entries of one clip: an image (+ ``<|prog_token|>``) per frame, or one video."""
        if not self.settings["use_multi_image"]:
            return [{"type": "video"}]
        entries: list[dict[str, Any]] = []
        for _ in frames:
            entries.append({"type": "image"})
            if self.settings["use_per_frame_progress_token"]:
                entries.append({"type": "text", "text": PROG_TOKEN})
        return entries

    def _messages(self, task: str, frames: np.ndarray) -> list[dict[str, Any]]:
        content = [{"type": "text", "text": PROMPT.format(task=task)}, *self._vision(frames)]
        return [{"role": "user", "content": content}]

    def _pref_messages(self, task: str, frames_a: np.ndarray, frames_b: np.ndarray) -> list[dict[str, Any]]:
        prompt = PREF_PROMPT.format(task=task) + (PREF_PROGRESS_PROMPT if self.settings["predict_pref_progress"] else "")
        content = [{"type": "text", "text": prompt}, {"type": "text", "text": "This is Trajectory A. "},
                   *self._vision(frames_a), {"type": "text", "text": SPLIT_TOKEN},
                   {"type": "text", "text": "This is Trajectory B. "}, *self._vision(frames_b),
                   {"type": "text", "text": "Now predict the preference between the two trajectories."},
                   {"type": "text", "text": PREF_TOKEN}]
        return [{"role": "user", "content": content}]

    def _visuals(self, clips: list[np.ndarray]) -> tuple[list, list]:
        """``(videos, images)`` entries of one prompt for :class:`QwenInputs`."""
        if self.settings["use_multi_image"]:
            return [], [f for clip in clips for f in clip]
        spec = self.inputs.spec
        return [(clip, frame_seconds(None, len(clip), self.fps, spec)) for clip in clips], []

    def _batch(self, texts: list[str], visuals: list[tuple[list, list]]) -> dict[str, Any]:
        videos = [v for v, _ in visuals] if not self.settings["use_multi_image"] else ()
        images = [i for _, i in visuals] if self.settings["use_multi_image"] else ()
        return to_device(self.inputs(texts, videos, images, padding_side="right"), self.device, self.dtype)

    def _render(self, messages: list[dict[str, Any]]) -> str:
        return self.inputs.render(messages, add_generation_prompt=False, add_vision_id=True)

    def _predict(self, query: RewardQuery) -> RewardOutput:
        torch = self.torch
        texts, visuals, kept = [], [], []
        for clip, task in zip(query.frames, query.instructions):
            keep = subsample_indices(len(clip), self.num_frames)
            kept.append(keep)
            texts.append(self._render(self._messages(task, clip[keep])))
            visuals.append(self._visuals([clip[keep]]))
        batch = self._batch(texts, visuals)
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

    def prefer(self, clips_a: Sequence[np.ndarray], clips_b: Sequence[np.ndarray],
               instructions: Sequence[str]) -> np.ndarray:
        """Probability that clip A makes more progress on its task than clip B, per pair.

        Args:
            clips_a, clips_b: ``B`` uint8 clips ``(T, H, W, 3)`` each (subsampled to ``num_frames``,
                first and last kept); pair ``i`` is ``(clips_a[i], clips_b[i])``.
            instructions: ``B`` task instructions (the task both clips attempt).
        Returns:
            ``(B,)`` sigmoid of the preference head at ``<|pref_token|>``, A shown first.
        """
        torch = self.torch
        clips_a, clips_b = [check_frames(c, f"clips_a[{i}]") for i, c in enumerate(clips_a)], \
            [check_frames(c, f"clips_b[{i}]") for i, c in enumerate(clips_b)]
        instructions = list(instructions)
        if not (len(clips_a) == len(clips_b) == len(instructions) > 0):
            raise RewardInputError(f"prefer() needs as many clips A ({len(clips_a)}), clips B ({len(clips_b)}) and "
                                   f"instructions ({len(instructions)}), at least one")
        texts, visuals = [], []
        for a, b, task in zip(clips_a, clips_b, instructions):
            a, b = a[subsample_indices(len(a), self.num_frames)], b[subsample_indices(len(b), self.num_frames)]
            texts.append(self._render(self._pref_messages(task, a, b)))
            visuals.append(self._visuals([a, b]))
        batch = self._batch(texts, visuals)
        with torch.no_grad():
            hidden = self.net.model(**batch, output_hidden_states=True, return_dict=True).hidden_states[-1]
            ids = batch["input_ids"]
            if not bool((ids == self.pref_id).sum(-1).eq(1).all()):
                raise RuntimeError("each preference prompt must hold exactly one <|pref_token|>")
            logits = self.net.preference_head(hidden[ids == self.pref_id]).squeeze(-1).float()
        return torch.sigmoid(logits).cpu().numpy().astype(np.float64)

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
