"""``vlmreward demos --env TASK ...``: demonstrations for any simulator task, by the simulator's generator
(:mod:`vlmreward_rl.envs.maniskill_demos`, :mod:`vlmreward_rl.envs.robomimic_demos`)."""

from __future__ import annotations

import importlib

from vlmreward_rl.envs.tasks import describe_tasks, simulator_of


def main(argv: list[str]) -> object:
    """Dispatch ``argv`` to the generator of the task named by ``--env``; ``--help`` without a task lists them."""
    env = next((argv[i + 1] for i, a in enumerate(argv[:-1]) if a == "--env"), None)
    if env is None:
        if {"-h", "--help"} & set(argv):
            print("vlmreward demos --env TASK [options]: demonstrations (scripted or planned experts, noisy, "
                  f"early-stop, the failure kinds, random) for a simulator task.\n{describe_tasks()}.\n"
                  "`vlmreward demos --env TASK --help` lists the options of that simulator's generator.")
            return None
        raise SystemExit("demos: --env TASK is required, e.g. --env PickCube-v1 or --env Lift "
                         "(`vlmreward demos --help` lists the tasks)")
    try:
        simulator = simulator_of(env)
    except ValueError as error:
        raise SystemExit(f"demos: {error}") from None
    return importlib.import_module(simulator.demos).main(argv)
