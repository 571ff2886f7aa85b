"""The published reward models as backends, on tiny random checkpoints: loading through the real
paths, shapes, ranges, batching, parsing, errors, and the reward forms each backend can drive.

These prove plumbing, not reward quality (random weights). Needs the 'qwen' and 'clip' extras.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

pytest.importorskip("transformers", reason="needs the 'qwen'/'clip' extra (transformers)")
pytest.importorskip("peft", reason="needs the 'qwen' extra (peft)")

import vlmreward_gym as vrg  # noqa: E402
from vlmreward_gym.models import clip as clip_mod  # noqa: E402
from vlmreward_gym.models.generation import UnparseableOutputError  # noqa: E402
from vlmreward_gym.models.qwen_frames import video_patches  # noqa: E402
from vlmreward_gym.models import lrm  # noqa: E402
from vlmreward_gym.models.roboreward import PROMPT as ROBOREWARD_PROMPT, parse_score  # noqa: E402
from vlmreward_gym.models.lrm import parse_completion, parse_contrastive, parse_progress  # noqa: E402
from vlmreward_gym.models.topreward import prefix_lengths  # noqa: E402
from vlmreward_gym.types import Capability, CapabilityError, RewardQuery, subsample_indices  # noqa: E402

from . import tiny  # noqa: E402

P, S = Capability.PROGRESS, Capability.SUCCESS
TASK = "reach the green dot"


def clips(lengths=(5, 9, 1), seed=0):
    rng = np.random.default_rng(seed)
    sizes = [(64, 64), (48, 80), (40, 40)]
    return [rng.integers(0, 256, (n, *sizes[i % 3], 3), dtype=np.uint8) for i, n in enumerate(lengths)]


def query(want, frames, tasks=None):
    tasks = tasks or [TASK] * len(frames)
    return RewardQuery(instructions=tasks, want=want, frames=frames,
                       timesteps=[np.arange(len(f)) * 3 for f in frames])


def run_env(model, form, steps=6, **kwargs):
    env = gym.make("vlmreward/PointReach-v0", render_mode="rgb_array", max_episode_steps=steps)
    env = vrg.wrap(env, model=model, form=form, **({"instruction": TASK} if form != "stage_gated" else {}), **kwargs)
    env.reset(seed=0)
    rewards, infos = [], []
    for _ in range(steps):
        _, r, term, trunc, info = env.step(env.action_space.sample())
        rewards.append(r)
        infos.append(info)
        if term or trunc:
            break
    assert all(np.isfinite(rewards))
    return rewards, infos


def scripted(backend, answers):
    """Replace generation by scripted texts (one list per call); the inputs are still built and batched."""
    calls = []

    def generate(batch, max_new_tokens, sample=False, **_):
        calls.append((batch["input_ids"].shape[0], sample))
        out = answers[min(len(calls), len(answers)) - 1]
        return [out[i % len(out)] for i in range(batch["input_ids"].shape[0])]

    backend.vl.generate = generate
    return calls


# ---------------------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def qwen_dir(tmp_path_factory):
    return tiny.build_qwen3_vl(tmp_path_factory.mktemp("qwen3vl"))


@pytest.fixture(scope="module")
def lora_dir(qwen_dir, tmp_path_factory):
    return tiny.build_lora_adapters(qwen_dir, tmp_path_factory.mktemp("lrm"))


ROBOMETER_LAYOUTS = {
    "prog_token": {"use_multi_image": True, "use_per_frame_progress_token": True},
    "pooled_discrete": {"use_multi_image": True, "frame_pooling": "attention", "progress_loss_type": "discrete",
                        "progress_discrete_bins": 10},
    "video": {"use_multi_image": False, "average_temporal_patches": True},
}
ROBOMETER_DATA = {"video": {"resized_height": 64, "resized_width": 64}}


@pytest.fixture(scope="module")
def robometer_dirs(tmp_path_factory):
    return {k: tiny.build_robometer(tmp_path_factory.mktemp(f"rbm_{k}"), v, data=ROBOMETER_DATA.get(k))
            for k, v in ROBOMETER_LAYOUTS.items()}


@pytest.fixture(scope="module")
def roboreward(qwen_dir):
    return vrg.make_reward_model("roboreward-4b", path=str(qwen_dir), num_frames=6, max_new_tokens=6,
                                 max_pixels=64 * 64)


# ---------------------------------------------------------------------------------------------- RoboReward
def test_roboreward_parsing():
    assert parse_score("ANSWER: 4") == 4
    assert parse_score("The cube is lifted... answer: 2\nANSWER: 5") == 5
    assert parse_score("ANSWER: 7") is None and parse_score("four") is None
    # the model cards' text: the rubric, a blank line, then the task
    assert ROBOREWARD_PROMPT.startswith("Given the task, assign a discrete progress score reward (1,2,3,4,5) for the "
                                        "robot in the video in the format: ANSWER: <score>\nRubric for end-of-episode")
    assert ROBOREWARD_PROMPT.endswith("5 - Perfect Completion: Final state satisfies all requirements.\n\nTask: {task}")
    assert ROBOREWARD_PROMPT.count("\n") == 8


def test_roboreward_random_model_text_is_unparseable_after_one_retry(roboreward):
    frames = clips((3, 4))
    with pytest.raises(UnparseableOutputError, match="after a retry") as err:
        roboreward(query(Capability.EPISODE_SCORE, frames))
    assert len(err.value.texts) >= 2  # the greedy answer and the sampled retry of a failing clip


def test_roboreward_inputs_video_before_text(roboreward):
    batch_texts = []
    real_batch = roboreward.vl.batch

    def spy(texts, videos=(), images=(), padding_side="left"):
        batch_texts.extend(texts)
        return real_batch(texts, videos, images, padding_side)

    roboreward.vl.batch = spy
    scripted(roboreward, [["ANSWER: 3"]])
    roboreward(query(Capability.EPISODE_SCORE, clips((5,))))
    del roboreward.vl.batch
    text = batch_texts[0]
    assert text.index("<|vision_start|><|video_pad|><|vision_end|>") < text.index("Given the task")
    assert text.endswith("Task: " + TASK + "<|im_end|>\n<|im_start|>assistant\n")


def test_roboreward_batch_scores_and_progress(roboreward):
    calls = scripted(roboreward, [["ANSWER: 4", "thinking... ANSWER: 2", "ANSWER: 1"]])
    out = roboreward(query(Capability.EPISODE_SCORE | P, clips((5, 9, 1))))
    assert calls == [(3, False)]  # one batched generation for the three clips
    np.testing.assert_array_equal(out.score, [4, 2, 1])
    assert [p.tolist() for p in out.progress] == [[0.75], [0.25], [0.0]]
    assert out.raw[1]["text"].endswith("ANSWER: 2")


def test_roboreward_retries_only_the_failed_clip(roboreward):
    calls = scripted(roboreward, [["ANSWER: 3", "no idea"], ["ANSWER: 5"]])
    out = roboreward(query(Capability.EPISODE_SCORE, clips((2, 2))))
    assert calls == [(2, False), (1, True)]
    np.testing.assert_array_equal(out.score, [3, 5])
    assert out.raw[1]["attempts"] == ["no idea", "ANSWER: 5"]


def test_roboreward_in_episodic_and_dense_forms(roboreward):
    scripted(roboreward, [["ANSWER: 5"]])
    rewards, infos = run_env(roboreward, "episodic", scale="unit")
    assert rewards[-1] == 1.0 and all(r == 0.0 for r in rewards[:-1]) and infos[-1]["reward_model"]["score"] == 5
    rewards, _ = run_env(roboreward, "dense", every=3)
    assert max(rewards) == 1.0
    with pytest.raises(CapabilityError, match="success"):
        run_env(roboreward, "stage_gated", stages=["reach"])


def test_missing_weights_and_offline_hub(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        vrg.make_reward_model("roboreward-8b", path=str(tmp_path / "nope"))
    with pytest.raises(OSError, match="could not load"):
        vrg.make_reward_model("roboreward-8b", path="no-such-org/no-such-model")  # HF_HUB_OFFLINE=1 in tests


# ---------------------------------------------------------------------------------------------- Robometer
@pytest.mark.parametrize("layout", sorted(ROBOMETER_LAYOUTS))
def test_robometer_layouts_shapes_ranges_batching(robometer_dirs, layout):
    model = vrg.make_reward_model("robometer-4b", path=str(robometer_dirs[layout]))
    assert model.info.capabilities == P | S and model.info.num_frames == 8
    frames = clips((5, 12, 1))
    out = model(query(P | S, frames))
    assert [p.shape for p in out.progress] == [(5,), (12,), (1,)]
    assert all(0 <= p.min() and p.max() <= 1 for p in out.progress)
    assert out.success.shape == (3,) and ((0 <= out.success) & (out.success <= 1)).all()
    assert len(out.raw[1]["frame_indices"]) == 8 and out.raw[1]["frame_indices"][-1] == 11
    alone = model(query(P | S, frames[1:2]))
    np.testing.assert_allclose(alone.progress[0], out.progress[1], atol=1e-4)
    np.testing.assert_allclose(alone.success, out.success[1:2], atol=1e-4)


def test_robometer_with_one_frame_sees_the_last_one_as_the_wrappers_send_it(robometer_dirs):
    model = vrg.make_reward_model("robometer-4b", path=str(robometer_dirs["prog_token"]), num_frames=1)
    out = model(query(P | S, clips((12,))))
    assert out.raw[0]["frame_indices"] == subsample_indices(12, 1).tolist() == [11]


def test_robometer_in_dense_and_stage_gated_forms(robometer_dirs):
    model = vrg.make_reward_model("robometer-4b", path=str(robometer_dirs["prog_token"]))
    rewards, infos = run_env(model, "dense", every=2, relative=True)
    assert infos[-1]["reward_model"]["queried"]
    rewards, infos = run_env(model, "stage_gated", stages=["reach", "stay"], threshold=0.99, every=3)
    assert all(0 <= r <= 1 for r in rewards)


def test_robometer_checkpoint_errors(robometer_dirs, tmp_path):
    import shutil

    broken = tmp_path / "no_yaml"
    shutil.copytree(robometer_dirs["video"], broken)
    (broken / "config.yaml").unlink()
    with pytest.raises(FileNotFoundError, match="config.yaml"):
        vrg.make_reward_model("robometer-4b", path=str(broken))
    from safetensors.torch import load_file, save_file

    headless = tmp_path / "no_head"
    shutil.copytree(robometer_dirs["video"], headless)
    state = {k: v for k, v in load_file(str(headless / "model.safetensors")).items() if not k.startswith("success")}
    save_file(state, str(headless / "model.safetensors"))
    with pytest.raises(RuntimeError, match="success_head"):
        vrg.make_reward_model("robometer-4b", path=str(headless))
    with pytest.raises(ValueError, match="8 frames"):
        vrg.make_reward_model("robometer-4b", path=str(robometer_dirs["video"]), num_frames=12)


def test_robometer_progress_bins_come_from_the_weights(tmp_path):
    folder = tiny.build_robometer(tmp_path / "l2_yaml", {"use_multi_image": True, "use_per_frame_progress_token": True},
                                  progress_outputs=5)  # config.yaml says l2, the head has 5 bins
    model = vrg.make_reward_model("robometer-4b", path=str(folder))
    assert model.settings["discrete_bins"] == 5
    out = model(query(P | S, clips((3,))))
    assert 0 <= out.progress[0].min() and out.progress[0].max() <= 1
    bad = tiny.build_robometer(tmp_path / "bad", {"use_multi_image": True, "progress_loss_type": "discrete",
                                                  "progress_discrete_bins": 10}, progress_outputs=4)
    with pytest.raises(RuntimeError, match="10 discrete progress bins"):
        vrg.make_reward_model("robometer-4b", path=str(bad))


def test_robometer_settings_fall_back_to_the_data_section(tmp_path):
    folder = tiny.build_robometer(tmp_path / "data_only", {}, data={"use_multi_image": True,
                                                                   "use_per_frame_progress_token": True})
    model = vrg.make_reward_model("robometer-4b", path=str(folder))
    assert model.settings["use_multi_image"] and model.settings["use_per_frame_progress_token"]


def test_robometer_prompt_layouts(robometer_dirs):
    model = vrg.make_reward_model("robometer-4b", path=str(robometer_dirs["prog_token"]))
    frames = clips((3,))[0]
    text = model._render(model._messages(TASK, frames))
    assert text.startswith("<|im_start|>user\nThe task for the robot is '" + TASK + "'. Given the trajectory video,")
    assert text.count("<|image_pad|><|vision_end|><|prog_token|>") == 3 and not text.endswith("assistant\n")
    pref = model._render(model._pref_messages(TASK, frames, frames[:2]))
    assert pref.count("<|prog_token|>") == 5 and pref.count("<|split_token|>") == pref.count("<|pref_token|>") == 1
    a, split, b = pref.index("This is Trajectory A. "), pref.index("<|split_token|>"), pref.index("This is Trajectory B. ")
    assert a < split < b < pref.index("Now predict the preference between the two trajectories.<|pref_token|>")
    assert "Given these two trajectories for the task '" + TASK + "', evaluate which one" in pref
    video = vrg.make_reward_model("robometer-4b", path=str(robometer_dirs["video"]))
    assert video._render(video._messages(TASK, frames)).count("<|video_pad|>") == 1
    _, grid = video_patches(clips((3,))[0], video.inputs.spec)
    assert grid == (2, 4, 4)  # data.resized_height/width = 64 (qwen-vl-utils resized_* keys)


@pytest.mark.parametrize("layout", ["prog_token", "video"])
def test_robometer_preference_head(robometer_dirs, layout):
    model = vrg.make_reward_model("robometer-4b", path=str(robometer_dirs[layout]))
    a, b = clips((5, 12)), clips((4, 3), seed=1)
    p = model.prefer(a, b, [TASK, "push the block"])
    assert p.shape == (2,) and ((0 < p) & (p < 1)).all()
    np.testing.assert_allclose(model.prefer(a[1:], b[1:], ["push the block"]), p[1:], atol=1e-4)
    swapped = model.prefer(b[:1], a[:1], [TASK])
    assert not np.allclose(swapped, p[:1])  # the order of the two clips matters
    with pytest.raises(vrg.RewardInputError, match="as many"):
        model.prefer(a, b[:1], [TASK, TASK])


# ---------------------------------------------------------------------------------------------- TOPReward
def test_topreward_prompt_variants_and_prefixes(qwen_dir):
    assert prefix_lengths(1, 15) == [1] and prefix_lengths(2, 15) == [2]  # TOPReward scores only the whole clip
    assert prefix_lengths(5, 3) == [1, 3, 5] and prefix_lengths(64, 15)[:3] == [1, 5, 10]
    model = vrg.make_reward_model("topreward", path=str(qwen_dir), image_size=64)
    text = model.text(TASK)  # the reference default: the answer continues the user turn
    assert text == ("<|im_start|>user\n<|vision_start|><|video_pad|><|vision_end|>The above video shows a robot "
                    "manipulation trajectory that completes the following task: " + TASK + " Decide whether the "
                    "above statement is True or not. The answer is: True")
    chat = vrg.make_reward_model("topreward", path=str(qwen_dir), image_size=64, chat_template=True).text(TASK)
    assert chat.endswith(" Decide whether the above statement is True or not. The answer is:<|im_end|>\n"
                         "<|im_start|>assistant\nTrue")
    assert model.vl.spec.sizing == "processor"


def test_topreward_prefix_progress_and_success(qwen_dir):
    model = vrg.make_reward_model("topreward", path=str(qwen_dir), num_frames=6, num_prefixes=3, image_size=64,
                                  batch_size=4)
    frames = clips((5, 9, 1))
    out = model(query(P | S, frames))
    assert [p.shape for p in out.progress] == [(5,), (9,), (1,)]
    assert out.raw[0]["prefix_lengths"] == [1, 3, 5] and out.raw[2]["prefix_lengths"] == [1]
    for p, raw in zip(out.progress, out.raw):  # min-max over prefixes: the extremes are 0 and 1
        if len(set(raw["prefix_log_probs"])) > 1:
            assert p.min() == 0.0 and p.max() == 1.0
    np.testing.assert_allclose(out.success, np.exp([r["prefix_log_probs"][-1] for r in out.raw]), rtol=1e-6)
    one_by_one = vrg.make_reward_model("topreward", path=str(qwen_dir), num_frames=6, num_prefixes=3,
                                       image_size=64, batch_size=1, normalize="probability")
    alone = one_by_one(query(P | S, frames[:1]))
    np.testing.assert_allclose(alone.raw[0]["prefix_log_probs"], out.raw[0]["prefix_log_probs"], atol=1e-4)
    run_env(model, "dense", every=3)
    with pytest.raises(ValueError, match="normalize"):
        vrg.make_reward_model("topreward", path=str(qwen_dir), normalize="zscore")


# ---------------------------------------------------------------------------------------------- LRM
def test_lrm_parsers():
    analysis = 'Image A shows the gripper open; Image B shows the cube lifted.\n{ "more_complete_image": "ImageB" }'
    assert parse_contrastive(analysis) == 1 and parse_contrastive('{"more_complete_image": "ImageA"}') == -1
    assert parse_contrastive('"more_complete_image": "ImageA" (final)') == -1
    assert parse_contrastive("so ImageB is behind ImageA") == -1  # the last one named
    assert parse_contrastive("+1") is None and parse_contrastive("no idea") is None
    assert parse_progress('{ "completion_progress": 0.7 }') == 0.7 and parse_progress('{"completion_progress": "NA"}') == 0
    assert parse_progress('"completion_progress": 1.0') == 1.0 and parse_progress("roughly 0.4 done") == 0.4
    assert parse_progress('{"completion_progress": 1.3}') == 1.0 and parse_progress("three") is None
    assert parse_completion('{ "task_completed": "yes" }') == 1 and parse_completion('{"task_completed": "NO"}') == 0
    assert parse_completion("Yes, done") == 1 and parse_completion("no") == 0
    assert parse_completion("maybe") is None and parse_completion("it is not known") is None


def test_lrm_prompts_are_the_release_text():
    content = lrm.content_from_prompt(lrm.CONTRASTIVE_PROMPT.format(task=TASK), 2)
    assert [c["type"] for c in content] == ["text", "image", "text", "image", "text"]
    assert content[0]["text"] == ("Task: Compare the completion progress.\n\nThe task is: " + TASK + ".\n\n"
                                  "You are given:\n- Later observation (Image A): ")
    assert content[2]["text"] == "\n- Later observation (Image B): "
    assert content[4]["text"].endswith('JSON format:\n{ "more_complete_image": "selected_value" }')
    content = lrm.content_from_prompt(lrm.PROGRESS_PROMPT.format(task=TASK), 2)
    assert content[0]["text"] == ("Task: Estimate the completion progress.\nThe task is: " + TASK + "\nYou are given:"
                                  "\n- Initial observation: ")
    assert "[0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]" in content[4]["text"]
    assert content[4]["text"].endswith('{ "completion_progress": selected_value }')
    content = lrm.content_from_prompt(lrm.COMPLETION_PROMPT.format(task=TASK), 1, strip=True)
    assert [c["type"] for c in content] == ["text", "image", "text"]
    assert content[0]["text"].endswith("You are given:\n- Current observation:")  # pieces are stripped
    assert content[2]["text"] == ('Has the task been completed?\nOutput your answer in the following JSON format:\n'
                                  '{ "task_completed": "yes" or "no" }')
    with pytest.raises(ValueError, match="markers"):
        lrm.content_from_prompt("Task: {task} <image>", 2)


@pytest.mark.parametrize("mode", ["contrastive", "progress", "completion"])
def test_lrm_adapters_load_and_answer(qwen_dir, lora_dir, mode):
    model = vrg.make_reward_model(f"lrm-{mode}", path=str(qwen_dir), adapter=str(lora_dir), max_new_tokens=4)
    assert type(model.vl.model).__name__ == "PeftModel" and model.layout == "lora"
    assert model.max_new_tokens == 4
    assert vrg.make_reward_model(f"lrm-{mode}", path=str(qwen_dir), adapter=str(lora_dir)).max_new_tokens == \
        {"contrastive": 512, "progress": 128, "completion": 128}[mode]
    want = model.info.capabilities
    with pytest.raises(UnparseableOutputError):
        model(query(want, clips((3, 2))))  # random LoRA weights do not answer in the format
    answers = {"contrastive": ['Image B is further. { "more_complete_image": "ImageB" }',
                               '{ "more_complete_image": "ImageA" }'],
               "progress": ['{ "completion_progress": 0.7 }', '{ "completion_progress": 1.0 }'],
               "completion": ['{ "task_completed": "yes" }', '{ "task_completed": "no" }']}[mode]
    calls = scripted(model, [answers])
    out = model(query(want, clips((3, 2))))
    assert calls == [(2, False)]
    if mode == "contrastive":
        np.testing.assert_array_equal(out.comparison, [1, -1])
        run_env(model, "contrastive", delta=2)
    elif mode == "progress":
        assert [p.tolist() for p in out.progress] == [[0.7], [1.0]]
        run_env(model, "dense", every=2)
    else:
        np.testing.assert_array_equal(out.success, [1, 0])
        np.testing.assert_array_equal(out.score, [1, 0])
        rewards, _ = run_env(model, "episodic")
        assert rewards[-1] in (0.0, 1.0)


def test_lrm_rendered_prompt_holds_the_images(qwen_dir, lora_dir):
    model = vrg.make_reward_model("lrm-progress", path=str(qwen_dir), adapter=str(lora_dir))
    text = model.vl.inputs.render(model.messages(TASK))
    assert text.count("<|vision_start|><|image_pad|><|vision_end|>") == 2 and text.endswith("assistant\n")
    assert "- Initial observation: <|vision_start|>" in text and "- Current observation: <|vision_start|>" in text
    single = vrg.make_reward_model("lrm-progress", path=str(qwen_dir), adapter=str(lora_dir), initial_image=False)
    assert single.info.num_frames == 1 and "Initial observation" not in single.vl.inputs.render(single.messages(TASK))


def test_lrm_full_model_layout(tmp_path_factory):
    root = tiny.build_full_models(tmp_path_factory.mktemp("lrm_full"), names=("completion",))
    model = vrg.make_reward_model("lrm-completion", adapter=str(root), path="unused/base")
    assert model.layout == "full" and type(model.vl.model).__name__ == "Qwen3VLForConditionalGeneration"
    scripted(model, [['{ "task_completed": "yes" }']])
    np.testing.assert_array_equal(model(query(S, clips((2,)))).success, [1])


def test_lrm_progress_adapter_with_nested_modules_to_save(qwen_dir, tmp_path):
    """LRM's progress adapter saves the vision tower and its merger; peft alone fails to load that."""
    import torch
    from safetensors.torch import load_file

    root = tiny.build_lora_adapters(qwen_dir, tmp_path, names=("progress",), modules_to_save=["visual", "merger"])
    model = vrg.make_reward_model("lrm-progress", path=str(qwen_dir), adapter=str(root))
    saved = load_file(str(root / "progress" / "adapter_model.safetensors"))
    key = next(k for k in saved if "visual.merger.norm.weight" in k)
    merger = dict(model.vl.model.named_parameters())
    loaded = next(v for k, v in merger.items() if "merger.norm" in k and "modules_to_save" in k and k.endswith("weight"))
    assert torch.equal(loaded.detach(), saved[key])


def test_lrm_layout_errors(qwen_dir, tmp_path):
    with pytest.raises(FileNotFoundError, match="contrastive/, progress/"):
        vrg.make_reward_model("lrm-progress", path=str(qwen_dir), adapter=str(tmp_path))
    (tmp_path / "progress").mkdir()
    with pytest.raises(OSError, match="could not load"):  # neither an adapter nor a model
        vrg.make_reward_model("lrm-progress", path=str(qwen_dir), adapter=str(tmp_path))
    zero = tiny.build_lora_adapters(qwen_dir, tmp_path / "zero", names=("completion",), zero_b=True)
    with pytest.raises(OSError, match="all-zero"):
        vrg.make_reward_model("lrm-completion", path=str(qwen_dir), adapter=str(zero))
    with pytest.raises(OSError, match="could not load"):  # HF_HUB_OFFLINE=1: the hub repo cannot be reached
        vrg.make_reward_model("lrm-completion", path=str(qwen_dir))


def test_lrm_release_fallback(qwen_dir, lora_dir):
    model = vrg.make_reward_model("lrm-contrastive", path=str(qwen_dir), adapter=str(lora_dir), fallback=True)
    scripted(model, [["no answer", '{ "more_complete_image": "ImageB" }'], ["still none"]])
    with pytest.warns(RuntimeWarning, match=r"for clips \[0\]; answering the fallback 0"):
        out = model(query(Capability.COMPARE, clips((3, 2))))
    np.testing.assert_array_equal(out.comparison, [0, 1])
    assert out.raw[0]["attempts"] == ["no answer", "still none"]
    assert out.raw[0]["fallback"] and not out.raw[1]["fallback"]  # never a silent zero


# ---------------------------------------------------------------------------------------------- CLIP
def test_vlmrm_projection_math():
    rng = np.random.default_rng(0)
    g, b, x = (v / np.linalg.norm(v) for v in rng.normal(size=(3, 8)))
    np.testing.assert_allclose(clip_mod.vlmrm_reward(x[None], g, clip_mod.vlmrm_projection(g, b, 0.0)), [x @ g])
    d = (g - b) / np.linalg.norm(g - b)
    full = clip_mod.vlmrm_reward(x[None], g, clip_mod.vlmrm_projection(g, b, 1.0))
    np.testing.assert_allclose(full, [1 - 0.5 * ((x - g) @ d) ** 2])


@pytest.mark.parametrize("kind", ["clip", "siglip"])
def test_clip_backend(tmp_path_factory, kind):
    folder = tiny.build_clip(tmp_path_factory.mktemp(kind), kind)
    model = vrg.make_reward_model("clip", path=str(folder), baseline="a robot", alpha=0.5, batch_size=4)
    out = model(query(P, clips((5, 9, 1)), tasks=["reach", "push", "reach"]))
    assert [p.shape for p in out.progress] == [(5,), (9,), (1,)]
    assert all(0 <= p.min() and p.max() <= 1 for p in out.progress)
    r = np.asarray(out.raw[0]["vlmrm_reward"])
    np.testing.assert_allclose(out.progress[0], (r + 1) / 2)
    alone = model(query(P, clips((5,)), tasks=["reach"]))
    np.testing.assert_allclose(alone.progress[0], out.progress[0], atol=1e-5)
    run_env(model, "dense", every=2)
    with pytest.raises(CapabilityError):
        run_env(model, "contrastive")
    with pytest.raises(ValueError, match="baseline"):
        vrg.make_reward_model("clip", path=str(folder), alpha=0.5)


def test_clip_baseline_prompts_are_averaged(tmp_path_factory):
    """VLM-RM averages the unit embeddings of several baseline prompts without renormalising."""
    folder = tiny.build_clip(tmp_path_factory.mktemp("clip_avg"), "clip")
    model = vrg.make_reward_model("clip", path=str(folder), baseline=["a robot", "a table"], alpha=1.0)
    frames = clips((3,))
    out = model(query(P, frames, tasks=["reach"]))
    x, g = model._images(list(frames[0])), model._texts(["reach"])[0]
    b = model._texts(["a robot", "a table"]).mean(0)
    expected = clip_mod.vlmrm_reward(x, g, clip_mod.vlmrm_projection(g, b, 1.0))
    np.testing.assert_allclose(out.raw[0]["vlmrm_reward"], expected, rtol=1e-6)
    with pytest.raises(ValueError, match="non-empty"):
        vrg.make_reward_model("clip", path=str(folder), baseline=["a robot", " "], alpha=0.5)


def test_every_backend_is_registered_and_lazy():
    import subprocess
    import sys

    names = {"roboreward-4b", "roboreward-8b", "robometer-4b", "lrm-contrastive", "lrm-progress", "lrm-completion",
             "topreward", "clip"}
    assert names <= set(vrg.list_reward_models())
    code = "import sys, vlmreward_gym; print('torch' in sys.modules, 'transformers' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.split() == ["False",
                                                                                                            "False"]
