"""Run logging shared by the algorithms: TensorBoard scalars plus ``metrics.jsonl`` in the run dir."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

import numpy as np


class RunLogger:
    """Writes finite scalars to TensorBoard (if enabled) and as one JSON line per call to
    ``<run_path>/metrics.jsonl``; ``history`` keeps them in memory. A fresh run starts the file
    anew; ``resume_step`` keeps the lines logged up to that step (a resumed run)."""

    def __init__(self, run_path: Path, hparams: Mapping[str, Any], tensorboard: bool = True,
                 resume_step: int | None = None):
        self.writer = None
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(run_path))
            self.writer.add_text("hyperparameters", "|param|value|\n|-|-|\n" + "\n".join(
                f"|{k}|{v}|" for k, v in hparams.items()))
        path = run_path / "metrics.jsonl"
        kept = [line for line in path.open() if json.loads(line)["global_step"] <= resume_step] \
            if resume_step is not None and path.exists() else []
        self.file = path.open("w")
        self.file.writelines(kept)
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
