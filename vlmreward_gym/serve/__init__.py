"""Reward serving: an HTTP reward server (``vlmreward serve``), its ``remote`` client backend,
and the ``openai`` backend for OpenAI-compatible chat endpoints (GVL and RoboReward rubric).

Nothing here is imported by ``import vlmreward_gym``; the server needs the ``serve`` extra
(``pip install vlmreward-gym[serve]``: fastapi, uvicorn, httpx).

One GPU, many RL workers, any registered backend::

    VLMREWARD_SERVE_TOKEN=... vlmreward serve --model robometer-4b --host 0.0.0.0 --max-batch 32
    # on each worker (same token in its environment):
    env = vlmreward_gym.wrap(env, model="remote", model_kwargs={"url": "http://gpu-host:8321"}, form="dense", ...)

A VLM judge behind vLLM's OpenAI server (continuous batching happens inside vLLM, so workers
can call it directly with the ``openai`` backend; no ``vlmreward serve`` in between)::

    vllm serve Qwen/Qwen3-VL-8B-Instruct --port 8000 --limit-mm-per-prompt '{"image": 64}' \\
        --max-model-len 32768
    env = vlmreward_gym.wrap(env, model="openai", form="dense", every=10, instruction="...",
                             model_kwargs={"base_url": "http://gpu-host:8000/v1",
                                           "model": "Qwen/Qwen3-VL-8B-Instruct", "mode": "gvl"})

``--limit-mm-per-prompt`` must cover the clip's frames plus any in-context reference and
failure frames. Wire format: :mod:`vlmreward_gym.serve.wire`.
"""
