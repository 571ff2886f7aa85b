"""sim-rm end to end on tiny data: PointReach demos -> a few training steps -> checkpoint round
trip -> the backend in every reward form; plus augmentations, tokenizer and errors.

These prove plumbing, not reward quality (a few steps); the quality bar is measured with
``vlmreward eval`` (see the README).
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

pytest.importorskip("torch", reason="needs the 'torch' extra")
pytest.importorskip("safetensors", reason="needs the 'torch' extra")

import vlmreward_gym as vrg  # noqa: E402
from vlmreward_gym.cli import main as cli_main  # noqa: E402
from vlmreward_gym.models.registry import make_reward_model  # noqa: E402
from vlmreward_gym.models.sim_rm import SimRMConfig, WordTokenizer, load_checkpoint  # noqa: E402
from vlmreward_gym.rm import data as D  # noqa: E402
from vlmreward_gym.types import Capability, RewardInputError, RewardQuery  # noqa: E402

ALL = Capability.PROGRESS | Capability.SUCCESS | Capability.COMPARE | Capability.EPISODE_SCORE
REACH = "move the red dot onto the green dot"


@pytest.fixture(scope="module")
def checkpoint(dataset, tmp_path_factory):
    out = tmp_path_factory.mktemp("rm") / "ckpt"
    cli_main(["rm-train", "--data", str(dataset), "--out", str(out), "--steps", "3", "--pairs", "2",
              "--num-frames", "6", "--frame-size", "32", "--no-progress"])
    return out


# ---------------------------------------------------------------------------------- augmentations
def test_clip_indices_are_prefixes_of_at_least_two_frames():
    rng = np.random.default_rng(0)
    for _ in range(50):
        idx = D.clip_indices(10, rng)
        assert 2 <= len(idx) <= 10 and np.array_equal(idx, np.arange(len(idx)))
    assert np.array_equal(D.clip_indices(1, rng), [0])


def test_rewind_goes_forward_then_back_and_progress_goes_down():
    rng = np.random.default_rng(1)
    progress = np.linspace(0, 1, 8).astype(np.float32)
    for _ in range(50):
        idx = D.rewind_indices(8, rng)
        k = int(np.argmax(idx))
        assert np.array_equal(idx[:k + 1], np.arange(k + 1)) and len(idx) > k + 1
        assert np.all(np.diff(idx[k:]) == -1) and idx.min() == 0
        assert progress[idx[-1]] < progress[idx[k]]
    assert np.array_equal(D.rewind_indices(1, rng), [0])


def test_subsample_keeps_first_and_last_in_order():
    rng = np.random.default_rng(2)
    idx = D.subsample(np.arange(30), 6, rng)
    assert len(idx) == 6 and idx[0] == 0 and idx[-1] == 29 and np.all(np.diff(idx) > 0)
    assert np.array_equal(D.subsample(np.arange(4), 6, rng), np.arange(4))


def hand_episode(task, instruction, progress):
    progress = np.asarray(progress, np.float32)
    frames = np.zeros((len(progress), 8, 8, 3), np.uint8)
    frames[:, 0, 0, 0] = np.arange(len(progress))  # frame t is recognisable by its pixel
    return D.Episode(task, instruction, frames, progress, (progress >= 1).astype(np.float32), "expert", 0)


def test_instruction_swap_labels_zero_and_keeps_the_video():
    ep = hand_episode("a", "do a", [0.0, 0.5, 1.0])
    same = D.make_example(ep, np.array([0, 2]))
    swapped = D.make_example(ep, np.array([0, 2]), instruction="do b")
    assert same.progress.tolist() == [0.0, 1.0] and same.success.tolist() == [0.0, 1.0]
    assert swapped.instruction == "do b" and swapped.progress.tolist() == [0.0, 0.0] and swapped.success.sum() == 0
    assert swapped.relabelled and not same.relabelled
    assert np.array_equal(swapped.frames[:, 0, 0, 0], [0, 2])


def test_pair_sampler_labels_follow_quality():
    eps = [hand_episode("a", "do a", [0, 0.5, 1.0]), hand_episode("a", "do a", [0, 0.2, 0.3]),
           hand_episode("b", "do b", [0, 0.6, 1.0])]
    sampler = D.PairSampler(eps, num_frames=3, seed=0)
    for _ in range(200):
        a, b, label = sampler.sample_pair()
        assert len(a.frames) == len(a.progress) <= 3 and len(b.frames) <= 3
        if a.instruction != b.instruction or label == 0.5:
            continue
        qa, qb = (a.success[-1], a.progress[-1]), (b.success[-1], b.progress[-1])
        assert label == (1.0 if qa > qb else 0.0)
    swapped = [sampler.sample_pair() for _ in range(100)]
    assert any(b.progress.sum() == 0 and b.instruction != "do b" and a.instruction == b.instruction
               and b.frames[-1, 0, 0, 0] >= 0 for a, b, _ in swapped)


def test_same_task_pairs_closer_than_the_margin_are_ties():
    sampler = D.PairSampler([hand_episode("a", "do a", [0, 0.5, 1.0])], num_frames=3, margin=0.05)

    def clip(final, success):
        return D.Example(np.zeros((2, 4, 4, 3), np.uint8), "do a", np.array([0.0, final], np.float32),
                         np.array([0.0, success], np.float32))

    assert sampler.order(clip(0.36, 0), clip(0.35, 0)) == 0.5  # two failures 0.01 apart: no preference
    assert sampler.order(clip(0.50, 0), clip(0.35, 0)) == 1.0 and sampler.order(clip(0.3, 0), clip(0.4, 0)) == 0.0
    assert sampler.order(clip(0.90, 1), clip(0.95, 0)) == 1.0  # success first, whatever the progress
    assert D.PairSampler([], margin=0.0).order(clip(0.36, 0), clip(0.35, 0)) == 1.0


def test_load_episodes_resizes_and_excludes_held_out_tasks(dataset):
    eps = D.load_episodes([dataset], size=16)
    assert {e.instruction for e in eps} == {REACH, "move the red dot to the top-left corner"}
    assert eps[0].frames.shape[1:] == (16, 16, 3) and eps[0].frames.dtype == np.uint8
    kept = D.load_episodes([dataset], size=16, exclude_tasks=["top-left"])
    assert {e.instruction for e in kept} == {REACH}
    with pytest.raises(ValueError, match="no training episodes"):
        D.load_episodes([dataset], exclude_tasks=["PointReach"])


# ---------------------------------------------------------------------------------------- network
CORNERS = {w: f"move the red dot to the {w} corner" for w in ("top-left", "top-right", "bottom-left", "bottom-right")}


def tiny_net(frame_size=32):
    from vlmreward_gym.models.sim_rm import build_net

    tok = WordTokenizer.build(list(CORNERS.values()) + [REACH])
    return build_net(SimRMConfig(vocab=tok.vocab, frame_size=frame_size)), tok


def test_instruction_grounding_composes_known_words():
    """What an instruction decides (the mover and target selections, the absolute goal location and the
    visible-target gate, before their softmax / tanh / sigmoid) is linear in its word counts, whatever the
    weights: the held-out "bottom-right" lands at bottom-left + top-right - top-left. This is what lets
    sim-rm score a task it never saw."""
    import torch

    net, tok = tiny_net()
    with torch.no_grad():
        for p in net.parameters():
            p.normal_()
        names = ("bottom-left", "top-right", "top-left", "bottom-right")
        text = net.encode_text(torch.tensor([tok.encode(CORNERS[w]) for w in names]))
        for layer in (net.mover_select, net.target_select, net.goal_xy, net.goal_gate):
            out = layer(text)
            torch.testing.assert_close(out[0] + out[1] - out[2], out[3], atol=1e-4, rtol=1e-4)
        # and the goal is where the gate puts it between that location and the first frame's visible
        # target, the keypoints averaged by the target selection
        kp = (torch.rand(1, 1, net.cfg.keypoints, 2) * 2 - 1).expand(1, 3, -1, -1)  # nothing moves
        _, goal, mover, target = net.geometry(kp, torch.tensor([tok.encode(REACH)]))
        reach = net.encode_text(torch.tensor([tok.encode(REACH)]))
        pick = torch.softmax(net.target_select(reach), -1)[0]
        torch.testing.assert_close(target[0, 0], (pick[:, None] * kp[0, 0]).sum(0))
        expected = (torch.tanh(net.goal_xy(reach)) + torch.sigmoid(net.goal_gate(reach)) * target[:, 0])[:, None]
        torch.testing.assert_close(goal, expected)
        pick = torch.softmax(net.mover_select(reach), -1)[0]
        torch.testing.assert_close(mover[0], (pick[None, :, None] * kp[0]).sum(1))


def test_the_moved_thing_is_the_point_that_moved_so_far():
    """With no preference from the text, the moved thing is the keypoint that has moved, from the frame it
    moved on, and an answer never depends on later frames (the backend is causal)."""
    import torch

    net, tok = tiny_net()
    kp = (torch.rand(1, 1, net.cfg.keypoints, 2) * 2 - 1).repeat(1, 5, 1, 1)
    kp[0, 2:, 6] += torch.tensor([0.5, 0.0])  # keypoint 6 moves at frame 2
    tokens = torch.tensor([tok.encode(REACH)])
    with torch.no_grad():
        feats, _, mover, _ = net.geometry(kp, tokens)
        torch.testing.assert_close(mover[0, :2], kp[0, :2].mean(1).expand(2, 2))  # before: no choice yet
        torch.testing.assert_close(mover[0, 2:], kp[0, 2:, 6], atol=1e-4, rtol=0)
        later = kp.clone()
        later[0, 4] = torch.rand(net.cfg.keypoints, 2)
        feats_later = net.geometry(later, tokens)[0]
    torch.testing.assert_close(feats_later[:, :4], feats[:, :4])


def test_keypoints_and_the_auto_encoder_share_pointreach_coordinates():
    """A blob rendered at (x, y) (x right, y up, as PointReach) is found there by a spatial softmax
    that sees the same picture, and the reconstruction loss is lowest with the keypoint on the dot."""
    import torch

    net, _ = tiny_net()
    with torch.no_grad():
        net.blob_color.zero_()
        net.blob_color[0] = torch.tensor([0.5, -0.3, -0.3])
        net.background.fill_(0.376)
        kp = torch.full((1, net.cfg.keypoints, 2), 5.0)
        kp[0, 0] = torch.tensor([0.5, -0.5])
        img = net.render(kp)[0]  # S S 3
    row, col = np.unravel_index(int(img[..., 0].argmax()), img.shape[:2])
    assert col > 16 and row > 16  # right half, lower half of the image
    env = gym.make("vlmreward/PointReach-v0", render_mode="rgb_array", size=32)
    env.reset(seed=3)
    frame = torch.from_numpy(env.render())[None, None]
    pos = torch.tensor(env.unwrapped._pos, dtype=torch.float32)
    losses = []
    for where in (pos, -pos):
        kp = torch.full((1, 1, net.cfg.keypoints, 2), 5.0)  # every other blob far outside the image
        kp[..., 0, :] = where
        with torch.no_grad():
            net.blob_color[0] = torch.tensor([220, 40, 40]) / 255.0 - 0.376
            losses.append(float(net.reconstruction_loss(frame, kp, torch.ones(1, 1, dtype=torch.bool))))
    assert losses[0] < losses[1]


def test_keypoint_spread_is_small_for_one_peak_and_large_for_two():
    """The spread loss tells a map on one object from a map split between two (whose expected position,
    the midpoint, is on neither)."""
    import torch

    net, _ = tiny_net(frame_size=16)
    net.cnn = torch.nn.Identity()  # the frame's colour channels are the maps
    with torch.no_grad():
        net.log_temperature.fill_(6.0)
        frame = torch.zeros(1, 16, 16, 3, dtype=torch.uint8)
        frame[0, 3, 12, 0] = 255  # red: one pixel, row 3, column 12
        frame[0, 8, 0, 1] = frame[0, 8, 15, 1] = 255  # green: two pixels at the left and right edges
        kp, spread = net.keypoints(frame, with_spread=True)
    torch.testing.assert_close(kp[0, 0], torch.tensor([-1 + 24 / 15, 1 - 6 / 15]), atol=1e-3, rtol=0)
    assert float(spread[0, 0]) < 1e-3
    assert abs(float(kp[0, 1, 0])) < 1e-3 and float(spread[0, 1]) == pytest.approx(1.0, abs=0.01)
    assert float(spread[0, 2]) > 0.5  # blue: nothing there, a flat map


def test_target_motion_penalises_a_moving_target_only():
    import torch

    net, _ = tiny_net()
    target = torch.zeros(2, 5, 2)
    valid = torch.ones(2, 5, dtype=torch.bool)
    assert float(net.target_motion(target, valid)) == 0.0
    target[1, 3:, 1] = 0.5  # the target jumps in the last two frames of clip 1
    assert float(net.target_motion(target, valid)) == pytest.approx(2 * 0.25 / 10)
    valid[1, 3:] = False  # ... which are padding
    assert float(net.target_motion(target, valid)) == 0.0


def test_reconstruction_weighs_moving_pixels_up():
    """With ``motion_weight``, missing a small moving dot costs more than missing a static one of the
    same size; without it, both cost the same."""
    import torch

    net, _ = tiny_net(frame_size=16)
    frames = torch.full((1, 4, 16, 16, 3), 96, dtype=torch.uint8)
    frames[0, :, 2:4, 2:4] = 200  # a static square
    for t in range(4):
        frames[0, t, 10:12, 2 + 3 * t:4 + 3 * t] = 200  # a moving one, same size
    valid = torch.ones(1, 4, dtype=torch.bool)
    with torch.no_grad():
        net.blob_color.zero_()
        net.background.fill_(96 / 255)
        net.blob_log_width.fill_(-2.0)  # about a pixel and a half wide at 16 px
        net.blob_color[0] = 104 / 255
        far = torch.full((1, 4, net.cfg.keypoints, 2), 5.0)
        on_static, on_moving = far.clone(), far.clone()
        at = lambda row, col: torch.tensor([-1 + 2 * col / 15, 1 - 2 * row / 15])  # pixel centre -> (x, y)
        on_static[0, :, 0] = at(2.5, 2.5)
        for t in range(4):
            on_moving[0, t, 0] = at(10.5, 2.5 + 3 * t)
        loss = {w: [float(net.reconstruction_loss(frames, kp, valid, w)) for kp in (on_static, on_moving)]
                for w in (0.0, 20.0)}
    assert loss[0.0][0] == pytest.approx(loss[0.0][1], rel=0.05)
    assert loss[20.0][0] > 2 * loss[20.0][1]


def test_goal_at_success_counts_only_valid_successful_frames():
    import torch

    from vlmreward_gym.rm.train import goal_at_success

    mover = torch.tensor([[[0.0, 0.0], [0.3, 0.4], [9.0, 9.0]], [[1.0, 1.0], [1.0, 1.0], [1.0, 1.0]]])
    goal = torch.zeros(2, 1, 2)
    success = torch.tensor([[0.0, 1.0, 1.0], [0.0, 0.0, 0.0]])
    valid = torch.tensor([[True, True, False], [True, True, True]])
    assert float(goal_at_success(mover, goal, success, valid)) == pytest.approx(0.25)  # only (0.3, 0.4)
    assert float(goal_at_success(mover, goal, torch.zeros(2, 3), valid)) == 0.0


def test_relabelled_clips_train_only_the_comparison():
    """Changing a relabelled clip's progress / success targets leaves those losses unchanged."""
    import torch

    from vlmreward_gym.rm.train import batch_losses

    net, tok = tiny_net(frame_size=8)
    ep = hand_episode("a", REACH, [0.0, 0.5, 1.0])
    own = D.make_example(ep, np.arange(3))
    swapped = D.make_example(ep, np.arange(3), instruction=CORNERS["top-left"])
    with torch.no_grad():
        before = batch_losses(net, [(own, swapped, 1.0)], tok)
        swapped.progress[:], swapped.success[:] = 1.0, 1.0
        after = batch_losses(net, [(own, swapped, 1.0)], tok)
        for key in ("progress", "success", "preference"):
            assert float(before[key]) == float(after[key]), key
        own.progress[:] = 1.0
        assert float(batch_losses(net, [(own, swapped, 1.0)], tok)["progress"]) != float(before["progress"])


# -------------------------------------------------------------------------------------- tokenizer
def test_tokenizer_round_trip_and_unknown_words():
    tok = WordTokenizer.build(["Move the red dot to the top-left corner", "move the red dot onto the green dot"])
    ids = tok.encode("move the red dot to the top-left corner")
    assert tok.decode(ids) == "move the red dot to the top left corner"
    assert tok.encode("move the BLUE dot") == [tok.ids["move"], tok.ids["the"], 1, tok.ids["dot"]]
    assert tok.encode("") == [1]
    again = WordTokenizer(SimRMConfig.from_json(SimRMConfig(vocab=tok.vocab).to_json()).vocab)
    assert again.encode("the green dot") == tok.encode("the green dot")
    with pytest.raises(ValueError):
        WordTokenizer(["a", "b"])


# ---------------------------------------------------------------------------- training + backend
def test_checkpoint_round_trip(checkpoint):
    import torch

    net, cfg = load_checkpoint(checkpoint)
    assert cfg.training["steps"] == 3 and cfg.frame_size == 32 and cfg.num_frames == 6
    net2, _ = load_checkpoint(checkpoint)
    for (k, a), (_, b) in zip(net.state_dict().items(), net2.state_dict().items()):
        assert torch.equal(a, b), k


def test_backend_answers_the_contract_batched_as_alone(checkpoint):
    model = make_reward_model("sim-rm", path=str(checkpoint))
    assert model.info.num_frames == 6 and model.info.capabilities == ALL
    rng = np.random.default_rng(0)
    clips = [rng.integers(0, 256, (n, h, w, 3), dtype=np.uint8) for n, h, w in ((5, 32, 32), (1, 48, 40), (70, 32, 32))]
    out = model(RewardQuery(instructions=[REACH, "something new", REACH], want=ALL, frames=clips))
    assert [len(p) for p in out.progress] == [5, 1, 70]
    assert out.success.shape == out.comparison.shape == out.score.shape == (3,)
    assert set(out.score) <= {1.0, 2.0, 3.0, 4.0, 5.0} and out.comparison[1] == 0.0
    alone = model(RewardQuery(instructions=[REACH], want=ALL, frames=clips[:1]))
    np.testing.assert_allclose(alone.progress[0], out.progress[0], atol=1e-5)
    # causal: a prefix gets the same per-frame answers as the full clip
    prefix = model(RewardQuery(instructions=[REACH], want=Capability.PROGRESS, frames=[clips[0][:3]]))
    np.testing.assert_allclose(prefix.progress[0], out.progress[0][:3], atol=1e-5)


@pytest.mark.parametrize("form,kwargs", [("dense", {"every": 2}), ("episodic", {}), ("contrastive", {"delta": 2}),
                                         ("stage_gated", {"stages": ["reach", "stay"], "every": 2})])
def test_backend_drives_every_reward_form(checkpoint, form, kwargs):
    model = make_reward_model("sim-rm", path=str(checkpoint))
    env = gym.make("vlmreward/PointReach-v0", render_mode="rgb_array", size=32, max_episode_steps=6)
    env = vrg.wrap(env, model=model, form=form, **({} if form == "stage_gated" else {"instruction": REACH}), **kwargs)
    env.reset(seed=0)
    rewards = []
    for _ in range(6):
        _, r, term, trunc, _ = env.step(env.action_space.sample())
        rewards.append(r)
        if term or trunc:
            break
    assert np.all(np.isfinite(rewards))


def test_errors(tmp_path, checkpoint):
    with pytest.raises(FileNotFoundError, match="rm-train"):
        make_reward_model("sim-rm", path=str(tmp_path / "nothing"))
    model = make_reward_model("sim-rm", path=str(checkpoint))
    with pytest.raises(RewardInputError):
        model(RewardQuery(instructions=[REACH], want=Capability.PROGRESS, frames=[np.zeros((3, 32, 32), np.uint8)]))
    with pytest.raises(RewardInputError):
        model(RewardQuery(instructions=[REACH], want=Capability.PROGRESS, frames=[np.zeros((3, 32, 32, 3), np.float32)]))
    with pytest.raises(SystemExit):
        cli_main(["rm-train", "--data", str(tmp_path / "missing"), "--out", str(tmp_path / "o")])


def test_eval_runs_on_sim_rm(dataset, checkpoint, tmp_path):
    from vlmreward_gym.evaluation import run_eval

    report = run_eval(str(dataset), [("sim-rm", {"path": str(checkpoint)}), ("oracle", {})], str(tmp_path / "ev"))
    metrics = report["results"][0]["metrics"]
    assert {"voc_pearson", "kendall_tau_a", "pairwise_different_task", "success_roc_auc", "success_ece"} <= set(metrics)
    assert "static" in report["results"][0]["probes"]["results"]  # the exploit probes ran on sim-rm
    assert (tmp_path / "ev" / "results.md").is_file()


def test_pointreach_sim_rm_preset_trains_ppo_on_a_checkpoint(checkpoint, tmp_path):
    """`vlmreward train pointreach-sim-rm` end to end on a tiny budget: frames rendered, rewards from sim-rm."""
    import vlmreward_rl.recipes.train as train

    summary = train.main(["pointreach-sim-rm", "--model-kwargs.path", str(checkpoint), "--total-timesteps", "256",
                          "--eval-every", "1", "--eval-episodes", "2", "--run-dir", str(tmp_path), "--no-progress-bar"])
    assert summary["model"] == "sim-rm" and summary["env_steps"] >= 256  # whole PPO batches
    assert -1.0 <= summary["eval/progress_delta_pearson"] <= 1.0  # its rewards were compared with the oracle's
