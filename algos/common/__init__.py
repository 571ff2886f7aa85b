"""Pieces the RL algorithms share: GAE, reward-fidelity metrics, checkpoints, env construction."""
