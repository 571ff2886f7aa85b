"""Reward serving: an HTTP reward server (``vlmreward serve``), its ``remote`` client backend,
and the ``openai`` backend for OpenAI-compatible chat endpoints (GVL and RoboReward rubric).

Nothing here is imported by ``import vlmreward_gym``; the server needs the ``serve`` extra.
"""
