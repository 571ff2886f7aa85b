import pytest

from vlmreward_gym import cli
from vlmreward_gym.serve import bench


def test_bench_shows_batching_speed_up(capsys):
    rows = bench.main(["--duration", "1", "--clients", "1", "8", "--seconds-per-call", "0.1"])
    one, eight = rows
    assert one["clips_per_call"] == pytest.approx(1.0)
    assert eight["clips_per_call"] > 2 and eight["clips_per_s"] > 2 * one["clips_per_s"]
    assert "clips/s" in capsys.readouterr().out


def test_cli_has_serve(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["serve", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "--max-batch" in out and "--max-wait-ms" in out and "--token-env" in out
