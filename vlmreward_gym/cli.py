"""The ``vlmreward`` command.

    vlmreward demo [--model NAME ...]          every reward form on the built-in PointReach env
    vlmreward models [-v]                      registered reward-model backends (-v: what each answers and needs)
    vlmreward bench                            wrapper overhead benchmark
    vlmreward eval --model NAME --data PATH --out DIR   offline reward-model metrics (table, JSON, plots)
    vlmreward rm-train --data DIR [DIR ...] --out CKPT   train the CPU reward model sim-rm (vlmreward_gym/rm)
    vlmreward serve --model NAME [--port P]    HTTP reward server with micro-batching (serve extra)

and, registered by the RL side (``vlmreward_rl``) through the ``vlmreward_gym.commands`` entry points:

    vlmreward train [PRESET options ...]       RL with a learned reward: PPO, DSRL and filtered-BC presets
    vlmreward studies list | run NAME | sweep  the papers' studies and reward-model sweeps
    vlmreward demos --env TASK -n N --out DIR  demonstrations for a simulator task
    vlmreward bc --demos DIR --out DIR         behaviour-clone a diffusion policy

Reward-model options take one form everywhere (train, eval, serve, sweeps):
``--model-kwargs mae=0.5 seed=0`` (values read as JSON where they parse, else text) or one JSON
object, ``--model-kwargs '{"mae": 0.5}'``. ``vlmreward COMMAND --help`` shows a command's options.

Errors print one line, ``vlmreward: error: ...`` (exit code 2: the command line is wrong; 1: the
command failed); ``vlmreward --debug COMMAND ...`` or ``VLMREWARD_DEBUG=1`` shows the traceback.

A package adds a command by an entry point ``NAME = "module:main"`` in the group ``vlmreward_gym.commands``;
``main(argv)`` gets the arguments after NAME. Such commands are imported only when run, so the plugin
itself stays free of simulator and trainer imports.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from importlib.metadata import entry_points
from typing import Callable

from vlmreward_gym.models.registry import UnknownRewardModelError
from vlmreward_gym.options import KwargsSyntaxError, parse_kwargs

USAGE_ERROR, FAILURE = 2, 1
DEBUG_ENV = "VLMREWARD_DEBUG"
#: Entry-point group of commands that other packages add to ``vlmreward`` (``NAME = "module:main"``).
COMMAND_ENTRY_POINT_GROUP = "vlmreward_gym.commands"


class UsageError(Exception):
    """The command line cannot be run as given; the message says what to write instead."""


def describe_model(name: str) -> str:
    """Two lines on backend ``name`` from its card (nothing is built, no weights load)."""
    from vlmreward_gym.models.registry import reward_model_card

    try:
        card = reward_model_card(name)
    except ImportError as error:  # a backend whose extra is not installed still gets its line
        return f"{name:16s} (its module does not import: {error})"
    if card is None:
        return f"{name:16s} (answers and needs known once built: ask its server or factory)"
    if not card.needs_frames:
        frames = "no frames" + (" (reads the env's privileged oracle state)" if card.needs_oracle else "")
    else:
        n = card.num_frames
        frames = f"{n} frame{'s' * (n != 1)} per clip" if n else "any number of frames"
    weights = ("loads no weights" if card.weights is None else f"needs {card.weights}"
               if card.weights.startswith("path=") else f"loads {card.weights} by default")
    return (f"{name:16s} {card.summary}\n{'':16s} answers {', '.join(card.capabilities.names())}; {frames}; "
            f"{weights}")


def _models(argv: list[str]) -> None:
    from vlmreward_gym.models.registry import list_reward_models

    verbose = {"-v", "--verbose"} & set(argv)
    unknown = set(argv) - {"-v", "--verbose"}
    if {"-h", "--help"} & unknown:
        print("vlmreward models [-v]: the registered reward-model backends; -v: what each answers (capabilities), "
              "the frames it reads and the weights it loads, without loading any")
        return
    if unknown:
        raise UsageError(f"models: unknown option(s) {sorted(unknown)}; the only option is -v")
    names = list_reward_models()
    print("\n".join(describe_model(name) for name in names) if verbose else "\n".join(names))


def json_model_kwargs(argv: list[str]) -> list[str]:
    """``argv`` with the tokens of ``--model-kwargs`` (key=value pairs or JSON, :mod:`vlmreward_gym.options`)
    turned into the one JSON object the server reads."""
    out, i = [], 0
    while i < len(argv):
        flag, equals, value = argv[i].partition("=")
        if flag != "--model-kwargs":
            out.append(argv[i])
            i += 1
            continue
        end = i + 1
        if not equals:
            while end < len(argv) and not argv[end].startswith("--"):
                end += 1
        out += ["--model-kwargs", json.dumps(parse_kwargs([value] if equals else argv[i + 1:end]))]
        i = end
    return out


def _serve(argv: list[str]) -> None:
    importlib.import_module("vlmreward_gym.serve.server").main(json_model_kwargs(argv))


def _module_main(module: str) -> Callable[[list[str]], object]:
    return lambda argv: importlib.import_module(module).main(argv)


COMMANDS: dict[str, Callable[[list[str]], object]] = {
    "demo": _module_main("vlmreward_gym.demo"),
    "models": _models,
    "bench": _module_main("vlmreward_gym.bench"),
    "eval": _module_main("vlmreward_gym.evaluation"),
    "rm-train": _module_main("vlmreward_gym.rm.train"),
    "serve": _serve,
}


def commands() -> dict[str, Callable[[list[str]], object]]:
    """The built-in commands and those registered in the ``vlmreward_gym.commands`` entry-point group
    (loaded only when run); a registered name may not replace a built-in one."""
    found = dict(COMMANDS)
    for entry_point in entry_points(group=COMMAND_ENTRY_POINT_GROUP):
        if entry_point.name in COMMANDS:
            raise RuntimeError(f"entry point {entry_point.value!r} registers the built-in command "
                               f"{entry_point.name!r}; choose another name")
        found[entry_point.name] = lambda argv, ep=entry_point: ep.load()(argv)
    return found


def _dispatch(argv: list[str]) -> None:
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__.strip())
        return
    known = commands()
    if argv[0] not in known:
        raise UsageError(f"unknown command {argv[0]!r}; choose one of {sorted(known)} (vlmreward --help)")
    known[argv[0]](argv[1:])


def _exit_code(error: BaseException) -> int:
    return USAGE_ERROR if isinstance(error, (UsageError, KwargsSyntaxError, UnknownRewardModelError)) else FAILURE


def _message(error: BaseException) -> str:
    """The error's own words; its type too where the words alone may not say what went wrong."""
    text = str(error) or type(error).__name__
    return text if isinstance(error, (UsageError, ValueError, OSError, UnknownRewardModelError)) \
        else f"{type(error).__name__}: {text}"


def run_guarded(command: Callable[[list[str]], object], argv: list[str], prog: str = "vlmreward") -> None:
    """Run ``command(argv)`` for a person at a terminal: a failure prints one line, ``<prog>: error: ...``,
    and exits with 2 (the command line is wrong) or 1 (the command failed); a leading ``--debug`` or
    ``VLMREWARD_DEBUG=1`` lets the exception and its traceback through instead."""
    debug = os.environ.get(DEBUG_ENV, "") not in ("", "0")
    while argv[:1] == ["--debug"]:
        debug, argv = True, argv[1:]
    try:
        command(argv)
    except BrokenPipeError:  # the reader left (`vlmreward models -v | head`): stop quietly, as Python's docs advise
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise SystemExit(FAILURE) from None
    except SystemExit as exit_:
        if not isinstance(exit_.code, str) or debug:
            raise  # argparse / tyro printed their own message; an exit code passes through
        print(f"{prog}: error: {exit_.code}", file=sys.stderr)
        raise SystemExit(USAGE_ERROR) from None
    except Exception as error:  # noqa: BLE001  (one line for the user; --debug shows the traceback)
        if debug:
            raise
        code = _exit_code(error)
        hint = "" if code == USAGE_ERROR else f" (traceback: {prog} --debug ... or {DEBUG_ENV}=1)"
        print(f"{prog}: error: {_message(error)}{hint}", file=sys.stderr)
        raise SystemExit(code) from None


def main(argv: list[str] | None = None) -> None:
    """``vlmreward [--debug] COMMAND ...``"""
    run_guarded(_dispatch, list(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    main()
