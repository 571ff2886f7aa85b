"""``vlmreward studies``: the studies that reproduce the papers' tables, and reward-model sweeps.

    vlmreward studies list                              # the study presets (CPU size NAME, paper size NAME-full)
    vlmreward studies run NAME [--field value ...]      # one study: <out>/results.md, results.csv, results.png
    vlmreward studies sweep --preset P --models a,b --forms dense,episodic --seeds 0,1,2 [--address ...] [-- ...]

See recipes/studies.py (the studies) and recipes/sweep.py (sweeps on Ray). Errors print one line;
``vlmreward studies --debug ...`` or ``VLMREWARD_DEBUG=1`` shows the traceback.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import tyro


def run(argv: list[str]) -> dict[str, Any]:
    """Parse ``NAME [overrides]`` into a study preset, run it, print its table."""
    from vlmreward_rl.recipes.studies import STUDIES

    if not argv or argv[0].startswith("-") and argv[0] not in ("-h", "--help"):
        raise SystemExit(f"vlmreward studies run NAME [--field value ...]; NAME is one of {sorted(STUDIES)}")
    study = tyro.extras.overridable_config_cli(STUDIES, args=argv)
    out = Path(study.out or f"runs/studies/{argv[0]}")
    summary = study.run(out)
    print((out / "results.md").read_text())
    print(f"table: {out / 'results.md'} / results.csv, plot: {out / 'results.png'}")
    return summary


def main(argv: list[str] | None = None) -> Any:
    argv = list(sys.argv[1:] if argv is None else argv)
    command, rest = (argv[0], argv[1:]) if argv else ("", [])
    if command == "run":
        return run(rest)
    if command == "sweep":
        from vlmreward_rl.recipes import sweep

        return sweep.main(rest)
    if command == "list":
        from vlmreward_rl.recipes.studies import STUDIES

        for name, (description, _) in STUDIES.items():
            print(f"{name:22s} {description}")
        return None
    print(__doc__.strip())
    if command not in ("", "-h", "--help"):
        raise SystemExit(f"unknown command {command!r}: run, sweep or list")
    return None


if __name__ == "__main__":
    from vlmreward_gym.cli import run_guarded

    run_guarded(main, sys.argv[1:], "vlmreward studies")
