"""The Flax networks and optax optimisers DSRL and the diffusion policy share.

:class:`MLP` is the one network of both: ``layers`` hidden layers of Linear (-> LayerNorm) -> activation and a
linear head. :class:`Linear` initialises as ``torch.nn.Linear`` does (weight and bias uniform in
``+-1 / sqrt(fan_in)``), so the nets start from the distribution the presets were tuned with (Flax's own default
is LeCun-normal weights and zero biases). :class:`Ensemble` stacks ``n`` independent MLPs along a leading axis
(one batched matmul per layer: the twin critics). :func:`adam` / :func:`soft_update` are torch's ``Adam``
(betas 0.9 / 0.999, eps 1e-8) and ``lerp_`` target update.

XLA runs one CPU thread per process (:func:`limit_cpu_threads`, called before the first JAX computation), as the
learner was sized for one torch thread: on two shared cores the env or a second run takes the other. Compiled
functions are cached on disk (:func:`cache_compilations`).
"""

from __future__ import annotations

import os
from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

Params = Any  # a pytree of jax arrays (Flax's nested dict of parameters)


def limit_cpu_threads() -> None:
    """One intra-op thread for XLA's CPU backend (effective only before the backend starts: a no-op after)."""
    flags = os.environ.get("XLA_FLAGS", "")
    if "intra_op_parallelism_threads" not in flags:
        os.environ["XLA_FLAGS"] = (flags + " --xla_cpu_multi_thread_eigen=false "
                                   "intra_op_parallelism_threads=1").strip()


def cache_compilations() -> None:
    """Keep XLA's compiled learners on disk (``JAX_COMPILATION_CACHE_DIR``, default ``~/.cache/vlmreward_rl/jax``):
    a compile of a DSRL round takes 5-10 s on a CPU, paid once per architecture and batch shape instead of once
    per process (runs of a study, tests). Leaves a cache directory set some other way alone."""
    if jax.config.jax_compilation_cache_dir is None:
        path = os.environ.get("JAX_COMPILATION_CACHE_DIR") or os.path.join(
            os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "vlmreward_rl", "jax")
        jax.config.update("jax_compilation_cache_dir", path)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)


limit_cpu_threads()
cache_compilations()


def mish(x: jax.Array) -> jax.Array:
    """Mish, ``x * tanh(softplus(x))``, in the closed form ``x * n (n + 2) / (n (n + 2) + 2)`` with ``n = e^x``
    (``e^x`` capped at ``e^20``, where the ratio is 1.0 in float32): one exp instead of a log1p and a tanh."""
    n = jnp.exp(jnp.minimum(x, 20.0))
    m = n * (n + 2.0)
    return x * m / (m + 2.0)


ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {"tanh": jnp.tanh, "mish": mish}


def _torch_uniform(bound: float) -> Callable:
    return lambda key, shape, dtype=jnp.float32: jax.random.uniform(key, shape, dtype, -bound, bound)


class Linear(nn.Module):
    """``x @ kernel + bias``, kernel (in, features); initialised as ``torch.nn.Linear``, times ``scale``."""

    features: int
    scale: float = 1.0

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        bound = self.scale / x.shape[-1] ** 0.5
        kernel = self.param("kernel", _torch_uniform(bound), (x.shape[-1], self.features))
        bias = self.param("bias", _torch_uniform(bound), (self.features,))
        return x @ kernel + bias


class MLP(nn.Module):
    """(..., in) -> (..., out): ``layers`` x [Linear(hidden) (-> LayerNorm, eps 1e-5 as torch) -> activation], then
    Linear(out) initialised at ``head_scale`` of the default."""

    hidden: int
    layers: int
    out: int
    layer_norm: bool = True
    activation: str = "tanh"
    head_scale: float = 1.0

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        act = ACTIVATIONS[self.activation]
        for _ in range(self.layers):
            x = Linear(self.hidden)(x)
            if self.layer_norm:
                x = nn.LayerNorm(epsilon=1e-5)(x)
            x = act(x)
        return Linear(self.out, self.head_scale)(x)


class Ensemble(nn.Module):
    """``n`` independent scalar MLPs Q_i(x): (B, in) -> (n, B); parameters stacked on a leading axis of size n."""

    hidden: int
    layers: int
    n: int = 2

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        stacked = nn.vmap(MLP, variable_axes={"params": 0}, split_rngs={"params": True}, in_axes=None, out_axes=0,
                          axis_size=self.n)
        return stacked(self.hidden, self.layers, 1, name="members")(x)[..., 0]


def adam(learning_rate: float | optax.Schedule) -> optax.GradientTransformation:
    """torch.optim.Adam's defaults: betas (0.9, 0.999), eps 1e-8 outside the square root, no weight decay."""
    return optax.adam(learning_rate, b1=0.9, b2=0.999, eps=1e-8)


def apply_updates(optimizer: optax.GradientTransformation, params: Params, opt_state: Any,
                  grads: Params) -> tuple[Params, Any]:
    """One optimiser step: ``(new params, new optimiser state)``."""
    updates, opt_state = optimizer.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state


def soft_update(target: Params, source: Params, tau: float) -> Params:
    """``target + tau (source - target)`` leaf by leaf (torch's ``target.lerp_(source, tau)``)."""
    return jax.tree_util.tree_map(lambda t, s: t + tau * (s - t), target, source)


def optimizer_steps(opt_state: Any) -> int:
    """How many steps an optax Adam(W) state has taken (its ``count``)."""
    counts = [leaf for path, leaf in jax.tree_util.tree_leaves_with_path(opt_state)
              if getattr(path[-1], "name", None) == "count"]
    return int(counts[0]) if counts else 0
