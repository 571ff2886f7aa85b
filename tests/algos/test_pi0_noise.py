"""pi0 through its input noise: a tiny PI0 saved and loaded with from_pretrained, no torchvision."""

import numpy as np
import pytest
import torch

pytest.importorskip("transformers")

from vlmreward_rl.algos.common.chunks import ChunkRunner  # noqa: E402
from vlmreward_rl.algos.pi0_noise import Pi0NoisePolicy  # noqa: E402


def byte_tokenize(text: str) -> list[int]:
    return [1] + [b % 250 + 2 for b in text.encode()]


@pytest.fixture(scope="module")
def tiny_pi0(tmp_path_factory):
    from transformers import PI0Config, PI0ForConditionalGeneration

    small = {"hidden_size": 32, "num_hidden_layers": 1, "intermediate_size": 64, "num_attention_heads": 2,
             "num_key_value_heads": 1, "head_dim": 16}
    config = PI0Config(
        vlm_config={"model_type": "paligemma", "text_config": {"model_type": "gemma", "vocab_size": 300, **small},
                    "vision_config": {"model_type": "siglip_vision_model", "hidden_size": 32, "intermediate_size": 64,
                                      "patch_size": 8, "image_size": 32, "num_hidden_layers": 1,
                                      "num_attention_heads": 2, "vision_use_head": False},
                    "projection_dim": 32, "image_token_id": 299},
        dit_config={"model_type": "gemma", **small}, chunk_size=4, max_state_dim=8, max_action_dim=6,
        num_inference_steps=3)
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("pi0")
    PI0ForConditionalGeneration(config).save_pretrained(path)
    return path


def _obs(seed: int, instruction: str = "lift the cube") -> dict:
    rng = np.random.default_rng(seed)
    return {"state": rng.normal(size=5), "images": [rng.integers(0, 255, (48, 40, 3), dtype=np.uint8)],
            "instruction": instruction}


def test_same_noise_same_actions_different_noise_different_actions(tiny_pi0):
    policy = Pi0NoisePolicy.from_pretrained(tiny_pi0, tokenizer=byte_tokenize, act_dim=3)
    assert policy.noise_shape == (4, 6) and policy.action_shape == (4, 3)
    obs = [_obs(0), _obs(1, "pick up the red block now")]  # prompts of different lengths are left-padded
    noise = torch.randn(2, 4, 6, generator=torch.Generator().manual_seed(0))
    a = policy.sample(obs, noise)
    assert a.shape == (2, 4, 3)
    torch.testing.assert_close(policy.sample(obs, noise.clone()), a, rtol=0, atol=0)
    assert (policy.sample(obs, noise + 1.0) - a).abs().max() > 1e-4
    # A fresh load of the same checkpoint gives the same map.
    again = Pi0NoisePolicy.from_pretrained(tiny_pi0, tokenizer=byte_tokenize, act_dim=3)
    torch.testing.assert_close(again.sample(obs, noise), a, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="noise must be"):
        policy.sample(obs, torch.randn(2, 4, 3))


class DictObsEnv:
    """A minimal env with pi0-style dict observations; reward 1 per step, 3 steps an episode."""

    def __init__(self):
        import gymnasium as gym

        self.action_space = gym.spaces.Box(-1, 1, (3,), np.float32)
        self.observation_space = gym.spaces.Dict({
            "state": gym.spaces.Box(-np.inf, np.inf, (5,), np.float64),
            "images": gym.spaces.Box(0, 255, (1, 48, 40, 3), np.uint8),
            "instruction": gym.spaces.Text(64)})
        self.executed = []

    def reset(self, **kwargs):
        self.t = 0
        return _obs(0), {}

    def step(self, action):
        self.t += 1
        self.executed.append(np.asarray(action))
        return _obs(self.t), 1.0, self.t >= 3, False, {}


def test_the_chunk_runner_drives_pi0(tiny_pi0):
    import gymnasium as gym
    from gymnasium.vector import AutoresetMode

    class Env(DictObsEnv, gym.Env):
        pass

    policy = Pi0NoisePolicy.from_pretrained(tiny_pi0, tokenizer=byte_tokenize, act_dim=3)
    runner = ChunkRunner(gym.vector.SyncVectorEnv([Env], autoreset_mode=AutoresetMode.DISABLED), policy)
    assert runner.noise_dim == 24
    runner.reset()
    noise = np.linspace(-1, 1, 24, dtype=np.float32)
    while not (ended := runner.step(lambda envs, obs: noise[None])):
        pass
    (chunk,) = ended
    assert chunk.steps == 3 and chunk.reward == 3.0 and chunk.terminated
    expected = policy.sample([_obs(0)], torch.as_tensor(noise).view(1, 4, 6))[0].numpy()
    np.testing.assert_allclose(np.stack(runner.envs.envs[0].executed), np.clip(expected[:3], -1, 1), atol=1e-6)
