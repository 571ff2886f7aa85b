"""The ``openai`` backend against a local OpenAI-compatible stub server process (tests/serve/openai_stub.py)."""

import json
import pickle
import subprocess
import sys
import time
from pathlib import Path

import gymnasium as gym
import httpx
import numpy as np
import pytest

import vlmreward_gym as vrg
from vlmreward_gym.serve.bench import free_port, stop_server
from vlmreward_gym.serve.openai_judge import OpenAIRewardModel
from vlmreward_gym.types import Capability, RewardOutputError, RewardQuery

STUB = Path(__file__).with_name("openai_stub.py")
KEY = "sk-test-key"


@pytest.fixture(scope="module")
def stub(tmp_path_factory):
    """``(base_url, log_dir)`` of a running stub that needs the API key ``KEY``."""
    log = tmp_path_factory.mktemp("stub_log")
    port = free_port()
    proc = subprocess.Popen([sys.executable, str(STUB), str(port), str(log)], env={"STUB_KEY": KEY, "PATH": ""})
    deadline = time.monotonic() + 20
    while True:
        try:
            httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)
            break
        except httpx.TransportError:
            assert time.monotonic() < deadline and proc.poll() is None, "stub did not start"
            time.sleep(0.1)
    yield f"http://127.0.0.1:{port}/v1", log
    stop_server(proc)


def requests_since(log: Path, before: int) -> list[dict]:
    files = sorted(log.glob("*.json"))
    return [json.loads(f.read_text()) for f in files[before:]]


def episode(values) -> np.ndarray:
    """A clip whose frame k has top-left red value ``values[k]`` (the stub reads progress = value / 250)."""
    clip = np.zeros((len(values), 6, 5, 3), np.uint8)
    clip[:, 0, 0, 0] = values
    clip[:, 1:, :, 1] = 77
    return clip


@pytest.fixture
def key(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)


def test_gvl_shuffles_frames_anchors_the_first_and_unshuffles_progress(stub, key):
    url, log = stub
    before = len(list(log.glob("*.json")))
    judge = vrg.make_reward_model("openai", base_url=url, model="good", mode="gvl", seed=3)
    assert judge.info.capabilities == Capability.PROGRESS | Capability.SUCCESS
    values = [[0, 50, 100, 150, 200, 250], [0, 250, 125]]
    out = judge(RewardQuery(instructions=("stack the cubes", "open the drawer"), want=Capability.PROGRESS,
                            frames=tuple(episode(v) for v in values)))
    np.testing.assert_allclose(out.progress[0], [0, 0.2, 0.4, 0.6, 0.8, 1.0])
    np.testing.assert_allclose(out.progress[1], [0, 1.0, 0.5])
    assert out.success.tolist() == [1.0, 0.5]
    order = out.raw[0]["order"]
    assert sorted(order) == [1, 2, 3, 4, 5] and order != [1, 2, 3, 4, 5]  # shown shuffled
    sent = requests_since(log, before)
    assert len(sent) == 2 and all(r["auth"] == f"Bearer {KEY}" and r["path"] == "/v1/chat/completions" for r in sent)
    body = next(r["body"] for r in sent if "stack the cubes" in json.dumps(r))
    assert body["model"] == "good" and body["temperature"] == 0.6
    system, user = body["messages"]
    assert system["role"] == "system" and user["role"] == "user"
    texts = " ".join(p["text"] for p in user["content"] if p["type"] == "text")
    assert "TASK=stack the cubes" in texts and "initial frame is 0" in texts and "JSON array" in texts
    assert sum(p["type"] == "image_url" for p in user["content"]) == 6  # anchor + 5 shuffled frames
    assert "Reference behavior" not in texts and "Failure" not in texts
    judge.close()


def test_gvl_in_context_references_and_negative_examples_reach_the_prompt(stub, key, tmp_path):
    url, log = stub
    before = len(list(log.glob("*.json")))
    np.savez(tmp_path / "ref.npz", frames=episode([0, 125, 250]), progress=np.array([0.0, 0.5, 1.0]))
    judge = OpenAIRewardModel(model="good", base_url=url, references=[tmp_path / "ref.npz"],
                              failure_descriptions=["grasps the cube but drops it", "pushes the cube off the table"],
                              failure_examples=[episode([0, 25]), (episode([0, 50, 10]), [0.0, 0.2, 0.05])])
    out = judge(RewardQuery(instructions=("lift",), want=Capability.PROGRESS, frames=(episode([0, 100, 200]),)))
    np.testing.assert_allclose(out.progress[0], [0, 0.4, 0.8])
    (sent,) = requests_since(log, before)
    parts = sent["body"]["messages"][1]["content"]
    texts = [p["text"] for p in parts if p["type"] == "text"]
    assert sum(t.startswith("Reference behavior 1, frame") for t in texts) == 3
    assert "Reference behavior 1, frame 2, known reward: 50." in texts
    assert any("1. grasps the cube but drops it\n2. pushes the cube off the table" in t for t in texts)
    assert "Failure example 1, frame 2." in texts and "Failure example 2, frame 2, known reward: 20." in texts
    assert sum(p["type"] == "image_url" for p in parts) == 1 + 3 + 2 + 3 + 2  # anchor, refs, failures, frames
    assert pickle.loads(pickle.dumps(judge)).references[0][1].tolist() == [0.0, 0.5, 1.0]
    judge.close()


def test_rubric_mode_parses_the_answer_line(stub, key):
    url, log = stub
    before = len(list(log.glob("*.json")))
    judge = vrg.make_reward_model("openai", base_url=url, model="good", mode="rubric", temperature=0.0)
    want = Capability.EPISODE_SCORE | Capability.PROGRESS | Capability.SUCCESS
    out = judge(RewardQuery(instructions=("a", "b", "c"), want=want,
                            frames=(episode([0, 250]), episode([250, 0]), episode([10, 130]))))
    assert out.score.tolist() == [5.0, 1.0, 3.0] and out.success.tolist() == [1.0, 0.0, 0.0]
    assert [p.tolist() for p in out.progress] == [[1.0], [0.0], [0.5]]
    assert "ANSWER: 5" in out.raw[0]["text"]
    texts = [p["text"] for r in requests_since(log, before) for p in r["body"]["messages"][1]["content"]
             if p["type"] == "text"]
    assert any("4 - Near completion" in t and "ANSWER: <score>" in t for t in texts)
    assert OpenAIRewardModel.parse_rubric("**ANSWER:** 4\nanswer: 2") == 2
    for bad in ("ANSWER: 6", "ANSWER: 3.5", "the score is 4"):
        with pytest.raises(ValueError):
            OpenAIRewardModel.parse_rubric(bad)
    judge.close()


def test_unparsable_answers_missing_key_and_busy_endpoint(stub, key, monkeypatch):
    url, log = stub
    query = RewardQuery(instructions=("x",), want=Capability.PROGRESS, frames=(episode([0, 100]),))
    before = len(list(log.glob("*.json")))
    with pytest.raises(RewardOutputError, match="no parsable answer in 2 tries"):
        OpenAIRewardModel(model="garbage", base_url=url, parse_retries=1)(query)
    assert len(requests_since(log, before)) == 2
    for model in ("overflow", "deep"):  # OverflowError / RecursionError while parsing: unparsable, asked again
        before = len(list(log.glob("*.json")))
        with pytest.raises(RewardOutputError, match="no parsable answer in 2 tries"):
            OpenAIRewardModel(model=model, base_url=url, parse_retries=1)(query)
        assert len(requests_since(log, before)) == 2
    flaky = OpenAIRewardModel(model="flaky", base_url=url, backoff=0.01, retries=2)
    for _ in range(3):  # every other request is a 503: retried, then answered
        np.testing.assert_allclose(flaky(query).progress[0], [0.0, 0.4])
    monkeypatch.delenv("OPENAI_API_KEY")
    with pytest.raises(Exception, match="401"):
        OpenAIRewardModel(model="good", base_url=url)(query)
    with pytest.raises(ValueError, match="progress"):
        OpenAIRewardModel(model="good", base_url=url, references=[episode([0, 1])])
    assert OpenAIRewardModel.parse_gvl('[{"frame_number": 2, "task_reward": 130}, {"frame_number": 1, '
                                       '"task_reward": "40"}]', 2).tolist() == [40.0, 100.0]
    with pytest.raises(ValueError, match=r"frames \[2\]"):
        OpenAIRewardModel.parse_gvl('[{"frame_number": 1, "task_reward": 10}]', 2)


def test_episodic_env_scored_by_the_rubric_judge(stub, key):
    url, _ = stub
    judge = OpenAIRewardModel(model="good", base_url=url, mode="rubric", num_frames=4)
    env = vrg.wrap(gym.make("vlmreward/PointReach-v0", render_mode="rgb_array", max_episode_steps=6), model=judge,
                   form="episodic", instruction="reach the green disc")
    env.reset(seed=0)
    rewards = [env.step(env.action_space.sample())[1] for _ in range(6)]
    assert rewards[:-1] == [0.0] * 5 and rewards[-1] != 0.0  # the stub scores the rendered final frame
    env.close()
