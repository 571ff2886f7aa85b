"""metrics.jsonl on resume: a torn last line is skipped with a warning, a damaged line before it is an error."""

import json

import pytest

from vlmreward_rl.algos.common.logger import RunLogger


def _write(path, lines):
    path.write_text("".join(line + "\n" for line in lines[:-1]) + lines[-1])


def test_resume_skips_a_torn_last_line_with_a_warning(tmp_path):
    rows = [json.dumps({"global_step": s, "charts/success_rate": 0.5}) for s in (64, 128, 192)]
    _write(tmp_path / "metrics.jsonl", rows + ['{"global_step": 256, "charts/succ'])  # killed mid-write
    with pytest.warns(UserWarning, match=r"metrics.jsonl: skipping its torn last line 4"):
        logger = RunLogger(tmp_path, {}, tensorboard=False, resume_step=128)
    logger.log({"charts/success_rate": 1.0}, 192)
    logger.close()
    steps = [json.loads(line)["global_step"] for line in (tmp_path / "metrics.jsonl").open()]
    assert steps == [64, 128, 192]


def test_resume_refuses_a_damaged_line_before_the_last_naming_file_and_line(tmp_path):
    path = tmp_path / "metrics.jsonl"
    _write(path, ['{"global_step": 64}', '{"global_st', '{"global_step": 192}'])
    with pytest.raises(ValueError, match=rf"{path}, line 2: not a JSON row"):
        RunLogger(tmp_path, {}, tensorboard=False, resume_step=128)
