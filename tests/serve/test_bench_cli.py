import pytest

from vlmreward_gym import cli
from vlmreward_gym.serve import bench


def test_bench_merges_concurrent_clients_into_batches(capsys):
    """One client gets one clip per model call; eight concurrent clients share calls.

    The clips/s speed-up is a speed target, so it is printed by the benchmark and not asserted
    here (on a loaded CI machine the HTTP overhead, not the 0.2 s model call, can dominate it).
    """
    rows = bench.main(["--duration", "1.5", "--clients", "1", "8", "--seconds-per-call", "0.2"])
    one, eight = rows
    assert [row["clients"] for row in rows] == [1, 8]
    assert one["clips_per_call"] == pytest.approx(1.0)
    assert eight["clips_per_call"] > 2
    assert one["clips_per_s"] > 0 and eight["clips_per_s"] > 0
    assert "clips/s" in capsys.readouterr().out


def test_cli_has_serve(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["serve", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "--max-batch" in out and "--max-wait-ms" in out and "--token-env" in out
