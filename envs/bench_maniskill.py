"""Throughput of a ManiSkill3 task on this machine: state steps/s and frames/s (not a test).

    OMP_NUM_THREADS=1 python -m vlmreward_rl.envs.bench_maniskill [--task PickCube] [--steps 500] [--frames 50]
        [--frame-size 128] [--frame-source render_camera|sensor]

Prints: env creation time (s), state steps/s with random actions (no rendering; resets on
termination/truncation are included), the first frame's time in the process (s, it compiles
shaders), then steady frames/s (after 5 warm-up frames) for ``render()`` alone and steps/s when every step also renders.
"""

from __future__ import annotations

import argparse
import time

from vlmreward_rl.envs.maniskill import FRAME_SOURCES, make_env


def _rate(n: int, seconds: float) -> float:
    return n / max(seconds, 1e-9)


def main(argv: list[str] | None = None) -> dict[str, float]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--task", default="PickCube")
    p.add_argument("--steps", type=int, default=500)
    p.add_argument("--frames", type=int, default=50)
    p.add_argument("--frame-size", type=int, default=128)
    p.add_argument("--frame-source", choices=FRAME_SOURCES, default="render_camera")
    args = p.parse_args(argv)

    t = time.perf_counter()
    env = make_env(args.task, render_mode="rgb_array", frame_source=args.frame_source, frame_size=args.frame_size)
    env.action_space.seed(0)
    env.reset(seed=0)
    out = {"make_s": time.perf_counter() - t}

    t = time.perf_counter()
    for _ in range(args.steps):
        *_, terminated, truncated, _ = env.step(env.action_space.sample())
        if terminated or truncated:
            env.reset()
    out["state_steps_per_s"] = _rate(args.steps, time.perf_counter() - t)

    t = time.perf_counter()
    env.render()
    out["first_frame_s"] = time.perf_counter() - t
    for _ in range(5):  # the next few frames are still slower (warm-up); not counted
        env.render()

    t = time.perf_counter()
    for _ in range(args.frames):
        env.render()
    out["frames_per_s"] = _rate(args.frames, time.perf_counter() - t)

    t = time.perf_counter()
    for _ in range(args.frames):
        *_, terminated, truncated, _ = env.step(env.action_space.sample())
        env.render()
        if terminated or truncated:
            env.reset()
    out["rendered_steps_per_s"] = _rate(args.frames, time.perf_counter() - t)
    env.close()

    size = f"{args.frame_size}x{args.frame_size} {args.frame_source}"
    print(f"{args.task}: make {out['make_s']:.1f} s | state {out['state_steps_per_s']:.0f} steps/s | "
          f"first frame {out['first_frame_s']:.1f} s | {size}: {out['frames_per_s']:.1f} frames/s, "
          f"{out['rendered_steps_per_s']:.1f} steps/s when every step renders")
    return out


if __name__ == "__main__":
    main()
