"""Offline reward-model evaluation: ``vlmreward eval --model NAME --data PATH --out DIR``.

Scores a dataset (our demo format, a RoboRewardBench-style folder or a LeRobot v2 dataset, see
:mod:`vlmreward_gym.evaluation.data`) with any registered reward model and reports the papers'
metrics (:mod:`vlmreward_gym.metrics`) as a markdown table, a JSON file and PNG plots.

    vlmreward eval --data DIR --out OUT --model oracle \\
        --model noisy-oracle --model-kwargs mae=0.5 --model zero

``--model`` may be repeated (one table row each); ``--model-kwargs`` (``key=value`` pairs or a JSON
object, :mod:`vlmreward_gym.options`) applies to the ``--model`` just before it. The exploit probes
(:mod:`vlmreward_gym.evaluation.probes`) run by default; ``--no-probes`` skips them.
"""

from __future__ import annotations

import argparse
from typing import Any, Sequence

from vlmreward_gym.evaluation.data import EvalEpisode, load_eval_data
from vlmreward_gym.evaluation.report import markdown_table, model_label, probe_table, write_report
from vlmreward_gym.evaluation.scoring import RANK_BY, evaluate
from vlmreward_gym.options import KWARGS_HELP, KwargsSyntaxError, parse_kwargs

GROUP_BY = ("start", "task")

__all__ = ["EvalEpisode", "evaluate", "load_eval_data", "markdown_table", "run_eval", "write_report", "main"]


def load_many(paths: Sequence[str], max_frames: int = 32, camera: str | None = None) -> tuple[str, list[EvalEpisode]]:
    """The episodes of one or more datasets (e.g. one folder per task), in order: ``(formats, episodes)``; with
    several folders each episode id is prefixed with its folder's index, so ids stay unique."""
    formats, episodes = [], []
    for n, path in enumerate(paths):
        fmt, found = load_eval_data(path, max_frames, camera)
        formats.append(fmt)
        if len(paths) > 1:
            for e in found:
                e.id = f"{n}:{e.id}"
        episodes += found
    return "+".join(dict.fromkeys(formats)), episodes


def run_eval(data: str | Sequence[str], models: Sequence[tuple[str, dict[str, Any]]], out: str | None = None,
             max_frames: int = 32, rank_by: str | None = None, batch_size: int = 8, success_threshold: float = 0.5,
             confusion: bool = True, camera: str | None = None, probes: bool = True,
             group_by: str = "start") -> dict[str, Any]:
    """Evaluate each ``(name, kwargs)`` model on ``data`` (one dataset path or several, read as one); write the
    report into ``out`` if given. ``group_by``: which episodes Kendall tau and the ordering accuracy A rank
    against each other: ``"start"`` (the dataset's groups: rollouts from one reset seed) or ``"task"`` (every
    episode of a task: for datasets with one episode per reset seed, as ``vlmreward demos`` writes)."""
    from vlmreward_gym.models.registry import make_reward_model

    paths = [data] if isinstance(data, (str, bytes)) or not isinstance(data, Sequence) else list(data)
    fmt, episodes = load_many([str(p) for p in paths], max_frames, camera)
    if group_by not in GROUP_BY:
        raise ValueError(f"group_by must be one of {GROUP_BY}, got {group_by!r}")
    if group_by == "task":
        for e in episodes:
            e.group = e.task
    header = {"data": str(paths[0]) if len(paths) == 1 else [str(p) for p in paths], "format": fmt, "group_by": group_by,
              "episodes": len(episodes), "tasks": len({e.task for e in episodes}), "max_frames": max_frames}
    results = []
    for name, kwargs in models:
        model = make_reward_model(name, **kwargs)
        try:
            result = evaluate(model, episodes, rank_by, batch_size, success_threshold, confusion, probes)
        finally:
            model.close()
        results.append({"label": model_label(name, kwargs), "model": name, "model_kwargs": kwargs, **result})
    if out is not None:
        write_report(results, out, header)
    return {**header, "results": results}


class _ModelAction(argparse.Action):
    def __call__(self, parser, namespace, value, option_string=None):
        models = getattr(namespace, "models", None) or []
        if option_string == "--model":
            models.append((value, {}))
        else:
            if not models:
                parser.error("--model-kwargs must follow the --model it belongs to")
            try:
                kwargs = parse_kwargs(value)
            except KwargsSyntaxError as exc:
                parser.error(f"--model-kwargs: {exc}")
            models[-1][1].update(kwargs)
        namespace.models = models


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="vlmreward eval", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", action=_ModelAction, dest="models", required=True, metavar="NAME",
                        help="registered reward model (repeat for several rows)")
    parser.add_argument("--model-kwargs", action=_ModelAction, dest="models", metavar="KEY=VALUE", nargs="+",
                        help=f"keyword arguments of the --model before it: {KWARGS_HELP}")
    parser.add_argument("--data", required=True, nargs="+",
                        help="demo dataset, RoboRewardBench-style folder or LeRobot v2 folder (several are read as one)")
    parser.add_argument("--out", required=True, help="folder for results.md, results.json and the plots")
    parser.add_argument("--max-frames", type=int, default=32, help="frames kept per episode, spread evenly (default 32)")
    parser.add_argument("--rank-by", choices=RANK_BY, default=None,
                        help="trajectory score for rankings (default: final progress, or the episode score)")
    parser.add_argument("--batch-size", type=int, default=8, help="clips per model call")
    parser.add_argument("--success-threshold", type=float, default=0.5, help="for success precision / recall")
    parser.add_argument("--no-confusion", dest="confusion", action="store_false",
                        help="skip scoring every video against every task's instruction")
    parser.add_argument("--no-probes", dest="probes", action="store_false",
                        help="skip the exploit probes (4-5 extra clips per successful episode)")
    parser.add_argument("--camera", default=None, help="LeRobot video feature (default: the first)")
    parser.add_argument("--group-by", choices=GROUP_BY, default="start",
                        help="episodes ranked against each other by Kendall tau and A: rollouts from one reset seed "
                             "(start, default) or all of a task's (task: for data with one episode per seed)")
    args = parser.parse_args(argv)
    report = run_eval(args.data, args.models, args.out, args.max_frames, args.rank_by, args.batch_size,
                      args.success_threshold, args.confusion, args.camera, args.probes, args.group_by)
    print(markdown_table(report["results"]))
    if args.probes:
        print("\nexploit probes: paid at least as much as the real video (mean ratio probe / real)\n"
              + probe_table(report["results"]))
    print(f"\nwritten to {args.out}/results.md, results.json and *.png")
    return report
