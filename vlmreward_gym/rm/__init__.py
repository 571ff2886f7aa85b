"""``sim-rm``: a small video-language reward model trained on the CPU from simulator demos.

- :mod:`vlmreward_gym.rm.data`: episodes from the ``vlmreward_gym.data`` format and the papers' augmentations;
- :mod:`vlmreward_gym.rm.train`: ``vlmreward rm-train`` (Robometer's dual objective);
- :mod:`vlmreward_gym.models.sim_rm`: the network, its tokenizer, checkpoints and the ``sim-rm`` backend.
"""
