"""Large Reward Models (``lrm-contrastive``, ``lrm-progress``, ``lrm-completion``).

Sources: Wu et al., "Large Reward Models: Generalizable Online Robot Reward Generation with
Vision-Language Models", arXiv 2603.16065 (Sec. III-B, eqs. 2-4); the release code
github.com/physical-superintelligence-lab/Large-Reward-Models (commit 5845ab0, files
``vlm_reward/vlm_reward_server.py``, ``envs/vlm_maniskill_env.py``, ``config/*.yaml``, ``README.md``);
the hub repo huggingface.co/USC-PSI-Lab/LRM-models (Apache-2.0, base Qwen/Qwen3-VL-8B-Instruct).

Facts used:
- Checkpoints: one folder per modality in the hub repo, ``contrastive/``, ``progress/`` and
  ``completion/`` (release README, "Models" table). A folder holding ``adapter_config.json`` is a
  LoRA adapter put on Qwen3-VL-8B-Instruct, anything else is loaded as a full model
  (``load_vlm_model``: ``is_lora = exists(adapter_config.json)``). The progress adapter also saves
  the vision tower (``modules_to_save`` lists ``visual`` and its nested ``merger``), and ships the
  processor files (hence ``progress/vocab.json``); see :func:`adapters.load_adapter`.
- Prompts (the text below is the release's, kept verbatim because the adapters were trained on it;
  ``<image>`` marks where an image goes, and the text around it is split into separate entries
  the way the server builds its chat content):
  * contrastive (``compute_vlm_comparison``): the earlier frame is Image A, the current frame
    Image B; the model reasons, then answers ``{"more_complete_image": "ImageA" | "ImageB"}``;
    ImageB -> +1, ImageA -> -1 (the server gives 0 when nothing parses); 512 new tokens.
  * progress (``compute_vlm_reward``, no goal image): the initial frame (``config/progress.yaml``
    sets ``vlm_include_initial_image: true``) and the current frame; answer
    ``{"completion_progress": <0.0 .. 1.0 in tenths>}`` ("NA" counts as 0); 128 new tokens.
  * completion (``compute_vlm_completion``, "matches the published model-card prompt"): the
    current frame; answer ``{"task_completed": "yes" | "no"}``; 128 new tokens; each text piece
    is stripped.
- Decoding is greedy; images go through the base checkpoint's processor (its image ``size``).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np

from vlmreward_gym.models.base import ModelCard, ModelInfo, RewardModel
from vlmreward_gym.models.generation import generate_parsed
from vlmreward_gym.models.hf_loading import load_error
from vlmreward_gym.models.qwen_vl import QwenVL
from vlmreward_gym.types import Capability, RewardOutput, RewardQuery

BASE_ID = "Qwen/Qwen3-VL-8B-Instruct"
ADAPTER_REPO = "USC-PSI-Lab/LRM-models"
IMAGE = "<image>"

# Note the release labels both images "Later observation"; Image A is the earlier frame.
CONTRASTIVE_PROMPT = (
    "Task: Compare the completion progress.\n\n"
    "The task is: {task}.\n\n"
    "You are given:\n"
    "- Later observation (Image A): <image>\n"
    "- Later observation (Image B): <image>\n\n"
    "Question: Which of Image A or Image B is closer to completing the task?\n"
    "Select one value from the following list:\n"
    '["ImageA", "ImageB"]\n\n'
    "Please provide a step-by-step visual analysis first, and then output your answer in the following JSON format:\n"
    '{{ "more_complete_image": "selected_value" }}'
)
_PROGRESS_HEAD = "Task: Estimate the completion progress.\nThe task is: {task}\nYou are given:"
_PROGRESS_TAIL = (
    "\n\nQuestion: Based on the task description, estimate the completion progress as a value between 0.0 and 1.0.\n"
    "Select one value from the following list:\n"
    "[0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]\n\n"
    "Definitions:\n"
    "- 0.0: Task has just started.\n"
    "- 0.1 - 0.9: Intermediate progress steps (assess how close to completion).\n"
    "- 1.0: Task is Finished.\n"
    "Output your answer in the following JSON format:\n"
    '{{ "completion_progress": selected_value }}'
)
PROGRESS_PROMPT = _PROGRESS_HEAD + "\n- Initial observation: <image>\n- Current observation: <image>" + _PROGRESS_TAIL
PROGRESS_PROMPT_NO_INITIAL = _PROGRESS_HEAD + "\n- Current observation: <image>" + _PROGRESS_TAIL
COMPLETION_PROMPT = (
    "Task: Whether the task has been completed.\n\n"
    "The task is: {task}\n\n"
    "You are given:\n"
    "- Current observation: <image>\n\n"
    "Has the task been completed?\n"
    "Output your answer in the following JSON format:\n"
    '{{ "task_completed": "yes" or "no" }}'
)

_JSON = re.compile(r"\{[^{}]*\}")


def _json_field(text: str, key: str) -> Any:
    """The value of ``key`` in the last flat JSON object of ``text`` that has it, else None."""
    for block in reversed(_JSON.findall(text)):
        try:
            data = json.loads(block)
        except ValueError:
            continue
        if isinstance(data, dict) and key in data:
            return data[key]
    return None


_IMAGE_AB = re.compile(r'"more_complete_image"\s*:\s*"(Image[AB])"')


def parse_contrastive(text: str) -> float | None:
    """+1 if Image B (the current frame) is closer to done, -1 if Image A; None if neither is named.

    JSON answer first, then the quoted field, then whichever of ``ImageA`` / ``ImageB`` the text
    names last (the release server's order, ``extract_comparison_result``).
    """
    value = _json_field(text, "more_complete_image")
    if value not in ("ImageA", "ImageB"):
        found = _IMAGE_AB.findall(text)
        value = found[-1] if found else None
    if value is None:
        a, b = text.rfind("ImageA"), text.rfind("ImageB")
        value = None if a == b else ("ImageB" if b > a else "ImageA")
    return None if value is None else (1.0 if value == "ImageB" else -1.0)


_PROGRESS_FIELD = re.compile(r'"completion_progress"\s*:\s*"?(NA|[0-9]*\.?[0-9]+)"?', re.IGNORECASE)
_UNIT = re.compile(r"(?<![\d.])(1(?:\.0+)?|0(?:\.\d+)?|\.\d+)(?!\.?\d)")


def parse_progress(text: str) -> float | None:
    """``completion_progress`` in [0, 1] ("NA" -> 0.0, as the release does); else the first number in [0, 1]."""
    value = _json_field(text, "completion_progress")
    if value is None:
        m = _PROGRESS_FIELD.search(text)
        value = m.group(1) if m else None
    if value is None:
        m = _UNIT.search(text)
        value = m.group(1) if m else None
    if value is None:
        return None
    if isinstance(value, str) and value.strip().upper() == "NA":
        return 0.0
    try:
        return float(np.clip(float(value), 0.0, 1.0))
    except (TypeError, ValueError):
        return None


_COMPLETED = re.compile(r'"task_completed"\s*:\s*"(yes|no)"', re.IGNORECASE)
_YES_NO = re.compile(r"\b(yes|no)\b", re.IGNORECASE)


def parse_completion(text: str) -> float | None:
    """1.0 for ``"task_completed": "yes"``, 0.0 for "no" (last answer wins); else a bare yes/no word."""
    found = _COMPLETED.findall(text) or _YES_NO.findall(text)
    return None if not found else float(found[-1].lower() == "yes")


# release fallbacks when nothing parses (server: comparison 0, progress 0.0, not completed)
MODES = {
    "contrastive": (Capability.COMPARE, parse_contrastive, "'more_complete_image' answer", 512, 0.0),
    "progress": (Capability.PROGRESS, parse_progress, "'completion_progress' answer", 128, 0.0),
    "completion": (Capability.SUCCESS | Capability.PROGRESS | Capability.EPISODE_SCORE, parse_completion,
                   "'task_completed' answer", 128, 0.0),
}


def content_from_prompt(prompt: str, n_images: int, strip: bool = False) -> list[dict[str, Any]]:
    """Chat content for a prompt with ``<image>`` markers: text pieces (blank ones dropped) and images in order."""
    pieces = prompt.split(IMAGE)
    if len(pieces) - 1 != n_images:
        raise ValueError(f"the prompt has {len(pieces) - 1} {IMAGE} markers for {n_images} images")
    content: list[dict[str, Any]] = []
    for i, piece in enumerate(pieces):
        if piece.strip():
            content.append({"type": "text", "text": piece.strip() if strip else piece})
        if i < n_images:
            content.append({"type": "image"})
    return content


def _has_adapter_config(root: Any, subfolder: str | None) -> bool:
    """Whether the checkpoint folder holds ``adapter_config.json`` (local folder or hub repo)."""
    local = Path(str(root)).expanduser()
    if local.is_dir():
        return (local / (subfolder or "") / "adapter_config.json").is_file()
    from huggingface_hub import errors, hf_hub_download

    # absent from the repo; offline or not cached stays an error
    missing = getattr(errors, "RemoteEntryNotFoundError", errors.EntryNotFoundError)
    try:
        hf_hub_download(str(root), "adapter_config.json", subfolder=subfolder)
        return True
    except missing:
        return False


def _full_model_folder(root: Any, subfolder: str | None) -> str:
    local = Path(str(root)).expanduser()
    if local.is_dir():
        return str(local / subfolder if subfolder else local)
    from huggingface_hub import snapshot_download

    folder = snapshot_download(str(root), allow_patterns=[f"{subfolder}/*"] if subfolder else None)
    return str(Path(folder) / subfolder if subfolder else folder)
# images per query with the default options: [reference, current], [first, current] and [current]
IMAGES = {"contrastive": 2, "progress": 2, "completion": 1}


class LRMRewardModel(RewardModel):
    """One LRM reward modality: Qwen3-VL-8B-Instruct with its LoRA adapter (or a merged checkpoint).

    Args:
        mode: ``contrastive`` | ``progress`` | ``completion``.
        path: base model directory or hub id (default Qwen3-VL-8B-Instruct); unused when the
            modality folder holds a full model.
        adapter: the checkpoint root, local or hub (default ``USC-PSI-Lab/LRM-models``).
        adapter_subfolder: this modality's folder inside ``adapter`` (default: the mode name;
            ``""`` when ``adapter`` is the modality folder itself).
        prompt: user text with ``{task}`` and one ``<image>`` per image; default: the release's.
        initial_image: progress only: show the episode's first frame as well (the release's setting).
        max_new_tokens: generation budget (default: the release's, 512 / 128 / 128).
        fallback: after the retry, answer the release server's default (0) instead of raising.
        device, dtype: as for the other Qwen3-VL backends.

    Frames: contrastive reads the clip's last two frames (``[reference, current]``); progress
    reads the first (anchor) and last; completion reads the last. Completion's yes/no is the
    success probability, the episode score on [0, 1] and the last frame's progress.
    """

    def __init__(self, mode: str, path: Any = BASE_ID, adapter: Any = ADAPTER_REPO,
                 adapter_subfolder: str | None = None, prompt: str | None = None, initial_image: bool = True,
                 device: str = "cpu", dtype: Any = None, max_new_tokens: int | None = None, fallback: bool = False):
        if mode not in MODES:
            raise ValueError(f"LRM mode must be one of {sorted(MODES)}, got {mode!r}")
        self.mode, self.initial_image, self.fallback = mode, bool(initial_image), bool(fallback)
        self.capabilities, self.parse, self.what, default_tokens, self.fallback_value = MODES[mode]
        self.max_new_tokens = int(default_tokens if max_new_tokens is None else max_new_tokens)
        self.prompt = prompt or {"contrastive": CONTRASTIVE_PROMPT, "completion": COMPLETION_PROMPT,
                                 "progress": PROGRESS_PROMPT if initial_image else PROGRESS_PROMPT_NO_INITIAL}[mode]
        if "{task}" not in self.prompt:
            raise ValueError("the LRM prompt needs a {task} field")
        content_from_prompt(self.prompt, self._n_images(), self.mode == "completion")  # checks the markers
        name = f"lrm-{mode}"
        subfolder = mode if adapter_subfolder is None else (adapter_subfolder or None)
        local = Path(str(adapter)).expanduser()
        if local.is_dir() and subfolder and not (local / subfolder).is_dir():
            raise FileNotFoundError(f"no folder {local / subfolder}: the LRM checkpoints live in contrastive/, "
                                    f"progress/, completion/ (pass adapter_subfolder= for another layout)")
        try:
            self.layout = "lora" if _has_adapter_config(adapter, subfolder) else "full"
            folder = None if self.layout == "lora" else _full_model_folder(adapter, subfolder)
        except Exception as err:  # noqa: BLE001 - offline hub, unknown repo, ...
            raise load_error(name, f"{adapter}/{subfolder or ''}", err) from err
        if self.layout == "lora":
            self.vl = QwenVL(name, path, device, dtype, adapter=adapter, adapter_subfolder=subfolder)
        else:
            self.vl = QwenVL(name, folder, device, dtype)
        if self.vl.inputs.image_processor is None:
            raise ValueError(f"LRM needs the checkpoint's preprocessor_config.json (images) in {self.vl.config_dir!r}")
        self.info = ModelInfo(name=name, capabilities=self.capabilities, num_frames=self._n_images(),
                              score_range=(0.0, 1.0), device=self.vl.device)

    def _n_images(self) -> int:
        return 1 if self.mode == "progress" and not self.initial_image else IMAGES[self.mode]

    def _frames(self, clip: np.ndarray) -> list[np.ndarray]:
        if self.mode == "contrastive":
            return [clip[-2] if len(clip) > 1 else clip[-1], clip[-1]]
        if self.mode == "progress" and self.initial_image:
            return [clip[0], clip[-1]]
        return [clip[-1]]

    def messages(self, task: str) -> list[dict[str, Any]]:
        """The chat messages of one query (images as ``{"type": "image"}`` entries)."""
        text = self.prompt.format(task=task)
        return [{"role": "user", "content": content_from_prompt(text, self._n_images(), self.mode == "completion")}]

    def _predict(self, query: RewardQuery) -> RewardOutput:
        texts, images = [], []
        for clip, task in zip(query.frames, query.instructions):
            texts.append(self.vl.inputs.render(self.messages(task)))
            images.append(self._frames(clip))
        values, attempts, fell_back = generate_parsed(self.vl, texts, (), images, self.parse, self.max_new_tokens, self.what,
                                           default=self.fallback_value if self.fallback else None)
        v = np.clip(np.asarray(values, np.float64), -1.0 if self.mode == "contrastive" else 0.0, 1.0)
        raw = tuple({"value": float(x), "text": a[-1], "attempts": a, "fallback": i in fell_back}
                    for i, (x, a) in enumerate(zip(v, attempts)))
        if self.mode == "contrastive":
            return RewardOutput(comparison=v, raw=raw)
        if self.mode == "progress":
            return RewardOutput(progress=tuple(np.array([x]) for x in v), raw=raw)
        return RewardOutput(progress=tuple(np.array([x]) for x in v), success=v, score=v, raw=raw)

    def close(self) -> None:
        del self.vl


def make_contrastive(**kwargs: Any) -> LRMRewardModel:
    return LRMRewardModel("contrastive", **kwargs)


def make_progress(**kwargs: Any) -> LRMRewardModel:
    return LRMRewardModel("progress", **kwargs)


def make_completion(**kwargs: Any) -> LRMRewardModel:
    return LRMRewardModel("completion", **kwargs)


def _card(mode: str) -> ModelCard:
    return ModelCard(MODES[mode][0], f"LRM {mode} modality (Qwen3-VL-8B-Instruct with its LoRA adapter)",
                     num_frames=IMAGES[mode], weights=f"{ADAPTER_REPO}/{mode} on {BASE_ID}")


make_contrastive.card = _card("contrastive")  # type: ignore[attr-defined]
make_progress.card = _card("progress")  # type: ignore[attr-defined]
make_completion.card = _card("completion")  # type: ignore[attr-defined]
