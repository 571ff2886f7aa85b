"""Run logging shared by the algorithms: TensorBoard scalars plus ``metrics.jsonl`` and ``config.json`` in the
run dir, and JSON files without bare NaN."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path
from typing import Any, Mapping

import numpy as np


def json_safe(value: Any) -> Any:
    """``value`` with NumPy scalars made Python ones, tuples made lists and non-finite floats made None
    (JSON has no NaN: ``null`` is what every reader understands)."""
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, (np.floating, float)):
        return None if not math.isfinite(float(value)) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def write_json(path: str | Path, value: Any) -> Path:
    """Write ``value`` as indented, strict JSON (non-finite floats as null, see :func:`json_safe`)."""
    path = Path(path)
    path.write_text(json.dumps(json_safe(value), indent=2, allow_nan=False, default=str) + "\n")
    return path


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    """The rows of a ``metrics.jsonl`` file.

    A torn last line (the run was killed while writing it) is skipped with a warning. An unreadable
    line before the last is an error naming the file and the line: the file was damaged otherwise.
    """
    path = Path(path)
    lines = path.read_text().splitlines()
    rows = []
    for number, line in enumerate(lines, 1):
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as error:
            if number < len(lines):
                raise ValueError(f"{path}, line {number}: not a JSON row ({error}); the file is damaged: repair or "
                                 f"delete that line, or start the run without --resume") from None
            warnings.warn(f"{path}: skipping its torn last line {number} (the run stopped while writing it)",
                          stacklevel=2)
    return rows


class RunLogger:
    """Writes finite scalars to TensorBoard (if enabled) and as one JSON line per call to
    ``<run_path>/metrics.jsonl``; ``history`` keeps them in memory. A fresh run starts the file
    anew; ``resume_step`` keeps the lines logged up to that step (a resumed run). The run's full
    config (``hparams``) goes to ``<run_path>/config.json``."""

    def __init__(self, run_path: Path, hparams: Mapping[str, Any], tensorboard: bool = True,
                 resume_step: int | None = None):
        self.writer = None
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(run_path))
            self.writer.add_text("hyperparameters", "|param|value|\n|-|-|\n" + "\n".join(
                f"|{k}|{v}|" for k, v in hparams.items()))
        write_json(run_path / "config.json", hparams)
        path = run_path / "metrics.jsonl"
        kept = [row for row in read_metrics(path) if row["global_step"] <= resume_step] \
            if resume_step is not None and path.exists() else []
        self.file = path.open("w")
        self.file.writelines(json.dumps(row) + "\n" for row in kept)
        self.history: list[dict[str, float]] = []

    def log(self, metrics: Mapping[str, float], step: int) -> None:
        finite = {k: float(v) for k, v in metrics.items() if np.isfinite(v)}
        if self.writer is not None:
            for k, v in finite.items():
                self.writer.add_scalar(k, v, step)
        self.file.write(json.dumps({"global_step": step, **finite}) + "\n")
        self.file.flush()
        self.history.append({"global_step": step, **finite})

    def close(self) -> None:
        self.file.close()
        if self.writer is not None:
            self.writer.close()
