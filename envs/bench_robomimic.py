"""Benchmark the Robomimic envs: state steps/s (random actions) and rendered frames/s.

    OMP_NUM_THREADS=1 python -m vlmreward_rl.envs.bench_robomimic [--tasks Lift,Can,Square] [--steps 200]
        [--frames 50] [--frame-size 128] [--camera agentview]

Not a test: numbers depend on the machine and its load. The first step of a fresh install
compiles numba code (~12 s) and the first frame creates the GL context; both are warmed up first.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from vlmreward_rl.envs.robomimic import TASKS, RobomimicEnv


def bench(task: str, steps: int, frames: int, frame_size: int, camera: str) -> tuple[float, float]:
    """Return (steps per second, frames per second) for one task."""
    env = RobomimicEnv(task, render_mode="rgb_array", frame_size=frame_size, camera=camera, horizon=10**9)
    rng = np.random.default_rng(0)
    env.reset(seed=0)
    env.step(env.action_space.sample())  # warm-up: numba compile
    env.render()  # warm-up: GL context
    start = time.perf_counter()
    for _ in range(steps):
        env.step(rng.uniform(-1, 1, 7).astype(np.float32))
    steps_per_s = steps / (time.perf_counter() - start)
    start = time.perf_counter()
    for _ in range(frames):
        env.render()
    frames_per_s = frames / (time.perf_counter() - start)
    env.close()
    return steps_per_s, frames_per_s


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m vlmreward_rl.envs.bench_robomimic", description=__doc__.split("\n\n")[0])
    p.add_argument("--tasks", default=",".join(TASKS))
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--frames", type=int, default=50)
    p.add_argument("--frame-size", type=int, default=128)
    p.add_argument("--camera", default="agentview")
    args = p.parse_args(argv)
    for task in args.tasks.split(","):
        sps, fps = bench(task, args.steps, args.frames, args.frame_size, args.camera)
        print(f"{task:7s} steps/s {sps:7.1f}   frames/s ({args.frame_size}px {args.camera}) {fps:6.1f}")


if __name__ == "__main__":
    main()
