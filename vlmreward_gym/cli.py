"""The ``vlmreward`` command.

    vlmreward demo [--model NAME ...]          every reward form on the built-in PointReach env
    vlmreward models                           list registered reward-model backends
    vlmreward bench                            wrapper overhead benchmark
    vlmreward eval --model NAME --data PATH --out DIR   offline reward-model metrics (table, JSON, plots)
    vlmreward rm-train --data DIR [DIR ...] --out CKPT   train the CPU reward model sim-rm (vlmreward_gym/rm)
    vlmreward serve --model NAME [--port P]    HTTP reward server with micro-batching (serve extra)
    vlmreward train [PRESET options ...]       RL with a learned reward (recipes/train.py)
    vlmreward demos --env TASK -n N --out DIR  demonstrations for a simulator task (envs/)
    vlmreward bc --demos DIR --out DIR         behaviour-clone a diffusion policy (algos/diffusion_policy.py)

Subcommands that belong to the RL side (``train``, ``demos``, ``bc``) are imported only when run, so the
plugin itself stays free of simulator and trainer imports.
"""

from __future__ import annotations

import importlib
import sys

from vlmreward_gym.registration import MANISKILL_TASKS, ROBOMIMIC_TASKS


def _demos(argv: list[str]) -> None:
    env = next((argv[i + 1] for i, a in enumerate(argv[:-1]) if a == "--env"), None)
    if env is None:
        raise SystemExit("vlmreward demos: --env TASK is required, e.g. --env PickCube-v1 or --env Lift")
    task = env.removesuffix("-v1")
    if task in MANISKILL_TASKS:
        module = "envs.maniskill_demos"
    elif task in ROBOMIMIC_TASKS:
        module = "envs.robomimic_demos"
    else:
        raise SystemExit(f"vlmreward demos: unknown task {env!r}; ManiSkill3: {list(MANISKILL_TASKS)}, "
                         f"Robomimic: {list(ROBOMIMIC_TASKS)}")
    importlib.import_module(module).main(argv)


def _models(argv: list[str]) -> None:
    from vlmreward_gym.models.registry import list_reward_models

    print("\n".join(list_reward_models()))


COMMANDS = {
    "demo": lambda argv: importlib.import_module("vlmreward_gym.demo").main(argv),
    "models": _models,
    "bench": lambda argv: importlib.import_module("vlmreward_gym.bench").main(argv),
    "eval": lambda argv: importlib.import_module("vlmreward_gym.evaluation").main(argv),
    "rm-train": lambda argv: importlib.import_module("vlmreward_gym.rm.train").main(argv),
    "serve": lambda argv: importlib.import_module("vlmreward_gym.serve.server").main(argv),
    "train": lambda argv: importlib.import_module("recipes.train").main(argv),
    "demos": _demos,
    "bc": lambda argv: importlib.import_module("algos.diffusion_policy").main(argv),
}


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in COMMANDS:
        print(__doc__.strip())
        if argv and argv[0] not in ("-h", "--help"):
            raise SystemExit(f"vlmreward: unknown command {argv[0]!r}; choose one of {sorted(COMMANDS)}")
        return
    COMMANDS[argv[0]](argv[1:])


if __name__ == "__main__":
    main()
