"""sim-rm's ``cnn`` encoder (3-D scenes) and what came with it: training on a tiny budget with a validation
split, the frame-feature cache of the backend, augmentation, kind exclusion, and eval's false-success rate.
The shipped checkpoints are tested in ``test_shipped.py``."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("torch", reason="needs the 'torch' extra")
pytest.importorskip("safetensors", reason="needs the 'torch' extra")

import torch  # noqa: E402

from vlmreward_gym.cli import main as cli_main  # noqa: E402
from vlmreward_gym.models.registry import make_reward_model  # noqa: E402
from vlmreward_gym.models.sim_rm import SimRMConfig, build_net, collate, load_checkpoint  # noqa: E402
from vlmreward_gym.rm import data as D  # noqa: E402
from vlmreward_gym.rm import train as T  # noqa: E402

REACH = "move the red dot onto the green dot"


@pytest.fixture(scope="module")
def checkpoint(dataset, tmp_path_factory):
    out = tmp_path_factory.mktemp("scene") / "ckpt"
    cli_main(["rm-train", "--data", str(dataset), "--out", str(out), "--encoder", "cnn", "--frame-size", "32",
              "--steps", "6", "--pairs", "2", "--num-frames", "6", "--val-every", "2",
              "--logdir", str(out.parent / "tb"), "--no-progress"])
    return out


def test_cnn_checkpoint_records_its_encoder_and_the_validation_choice(checkpoint):
    net, cfg = load_checkpoint(checkpoint)
    assert cfg.encoder == "cnn" and type(net).__name__ == "SceneRMNet" and cfg.frame_size == 32
    selected = cfg.training["selected"]
    assert selected["step"] in (2, 4, 6) and np.isfinite(selected["total"])  # chosen among the validations
    assert cfg.training["validation_episodes"] > 0
    assert any((checkpoint.parent / "tb").iterdir())  # TensorBoard losses were written


def test_unknown_encoder_is_refused():
    with pytest.raises(ValueError, match="unknown encoder"):
        build_net(SimRMConfig(vocab=["<pad>", "<unk>"], encoder="vit"))


def test_cached_scores_equal_the_uncached_net_and_are_causal(checkpoint):
    model = make_reward_model("sim-rm", path=str(checkpoint))
    rng = np.random.default_rng(0)
    clips = [rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8) for n in (5, 9, 3)]
    texts = [REACH, "something new", REACH]
    progress, success, preference = model.scores(clips, texts)
    with torch.no_grad():
        p, s, pref = model.net(*collate(clips, texts, model.tokenizer))
    for i, clip in enumerate(clips):
        np.testing.assert_allclose(progress[i], torch.sigmoid(p[i, :len(clip)]).numpy(), atol=1e-5)
        np.testing.assert_allclose(success[i], torch.sigmoid(s[i, :len(clip)]).numpy(), atol=1e-5)
    np.testing.assert_allclose(preference, pref.numpy(), atol=1e-5)
    assert len(model._cache) == 5 + 9 + 3  # each (frame, instruction) computed once
    again, _, _ = model.scores([clips[1][:4]], [texts[1]])  # a prefix: cache hits, the same causal answers
    np.testing.assert_allclose(again[0], progress[1][:4], atol=1e-5)
    assert len(model._cache) == 17
    other, _, _ = model.scores([clips[0]], ["another instruction"])  # the features depend on the instruction
    assert len(model._cache) == 22


def test_random_shift_moves_each_clip_as_a_whole():
    frames = torch.arange(2 * 3 * 8 * 8 * 3, dtype=torch.int64).view(2, 3, 8, 8, 3).remainder(251).to(torch.uint8)
    out = T.random_shift(frames, 2, torch.Generator().manual_seed(0))
    assert out.shape == frames.shape and out.dtype == torch.uint8
    assert T.random_shift(frames, 0, None) is frames
    for b in range(2):  # one offset per clip: the same crop of every frame
        found = []
        padded = torch.nn.functional.pad(frames[b].permute(0, 3, 1, 2).float(), (2, 2, 2, 2), mode="replicate")
        for y in range(5):
            for x in range(5):
                if torch.equal(padded[:, :, y:y + 8, x:x + 8].permute(0, 2, 3, 1).to(torch.uint8), out[b]):
                    found.append((y, x))
        assert found


def test_validation_split_holds_out_whole_episodes_per_task():
    eps = [D.Episode(task=f"t{k}", instruction="x", frames=np.zeros((2, 4, 4, 3), np.uint8),
                     progress=np.zeros(2, np.float32), success=np.zeros(2, np.float32), seed=i)
           for k in range(2) for i in range(10)] + [
        D.Episode(task="lonely", instruction="y", frames=np.zeros((2, 4, 4, 3), np.uint8),
                  progress=np.zeros(2, np.float32), success=np.zeros(2, np.float32))]
    train, val = T.split_validation(eps, 0.2, seed=0)
    assert len(val) == 4 and {e.task for e in val} == {"t0", "t1"}  # 2 of each task; a lone episode trains
    assert not {id(e) for e in train} & {id(e) for e in val} and len(train) + len(val) == len(eps)
    again, _ = T.split_validation(eps, 0.2, seed=0)
    assert [id(e) for e in again] == [id(e) for e in train]
    assert T.split_validation(eps, 0.0, seed=0) == (eps, [])


def test_last_frame_weight_counts_the_last_frame_more(dataset):
    from vlmreward_gym.models.sim_rm import WordTokenizer

    cfg = SimRMConfig(vocab=["<pad>", "<unk>", *WordTokenizer.words(REACH)], frame_size=32, encoder="cnn",
                      channels=(8, 8), keypoints=4)
    torch.manual_seed(0)
    net = build_net(cfg)
    episodes = D.load_episodes([dataset], 32)
    pairs = [D.PairSampler(episodes, 6, seed=1).sample_pair() for _ in range(3)]
    tokenizer = WordTokenizer(cfg.vocab)
    heavy = T.batch_losses(net, pairs, tokenizer, last_frame_weight=5.0)
    assert set(heavy) == {"progress", "success", "preference"}  # no keypoint losses for the cnn encoder
    # recomputed by hand: each clip's last valid frame weighs 5, the others 1 (instruction-swapped clips 0)
    clips = [x for a, b, _ in pairs for x in (a, b)]
    with torch.no_grad():
        p_logit, s_logit, _ = net(*collate([c.frames for c in clips], [c.instruction for c in clips], tokenizer))
    num_p = num_s = den = 0.0
    for i, c in enumerate(clips):
        if c.relabelled:
            continue
        w = np.ones(len(c.frames))
        w[-1] = 5.0
        p = torch.sigmoid(p_logit[i, :len(c.frames)]).numpy()
        q = torch.sigmoid(s_logit[i, :len(c.frames)]).double().numpy()
        num_p += (w * (p - c.progress) ** 2).sum()
        num_s += (w * -(c.success * np.log(q) + (1 - c.success) * np.log(1 - q))).sum()
        den += w.sum()
    assert float(heavy["progress"].detach()) == pytest.approx(num_p / den, rel=1e-4)
    assert float(heavy["success"].detach()) == pytest.approx(num_s / den, rel=1e-4)


def test_load_episodes_leaves_out_kinds(dataset):
    every = D.load_episodes([dataset], 32)
    kinds = {e.kind for e in every}
    dropped = sorted(kinds)[0]
    kept = D.load_episodes([dataset], 32, exclude_kinds=[dropped])
    assert kept and all(e.kind != dropped for e in kept) and len(kept) < len(every)
    with pytest.raises(ValueError, match="kinds"):
        D.load_episodes([dataset], 32, exclude_kinds=sorted(kinds))


def test_eval_reports_false_successes_by_kind_and_reads_several_folders(dataset, tmp_path):
    from vlmreward_gym.evaluation import run_eval

    report = run_eval([str(dataset), str(dataset)], [("oracle", {}), ("noisy-oracle", {"mae": 1.5, "seed": 0})],
                      str(tmp_path / "ev"), probes=False, confusion=False)
    assert report["episodes"] == 2 * len(D.load_episodes([dataset], 32))
    oracle, noisy = (r["details"]["false_success_by_kind"] for r in report["results"])
    assert oracle and all(v["rate"] == 0.0 for v in oracle.values())  # the oracle never pays a failure
    assert any(v["rate"] > 0.0 for v in noisy.values())  # a noisy judge does
    written = json.loads((tmp_path / "ev" / "results.json").read_text())
    assert len({e["id"] for e in written["results"][0]["episodes"]}) == report["episodes"]  # ids stay unique
