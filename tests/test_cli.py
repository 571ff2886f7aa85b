import subprocess
import sys
from pathlib import Path

import pytest

from vlmreward_gym import cli
from vlmreward_gym.demo import DemoArgs, run_demo

ROOT = Path(__file__).resolve().parents[1]


def test_demo_rows_tell_good_from_random_under_the_oracle():
    rows = {(r["form"], r["policy"]): r for r in run_demo(DemoArgs(model="oracle", episodes=3))}
    assert len(rows) == 8
    for form in ("episodic", "dense", "contrastive", "stage_gated"):
        good, bad = rows[(form, "goal-seeking")], rows[(form, "random")]
        assert good["success_rate"] == 1.0 and bad["success_rate"] == 0.0
        assert good["learned_per_step"] > bad["learned_per_step"]


def test_cli_demo_models_bench_and_unknown(capsys):
    cli.main(["models"])
    assert "noisy-oracle" in capsys.readouterr().out.split()
    cli.main(["demo", "--episodes", "1"])
    assert "stage_gated" in capsys.readouterr().out
    cli.main(["bench", "--steps", "200", "--repeats", "1"])
    lines = [line.split() for line in capsys.readouterr().out.splitlines()[2:]]
    assert len(lines) == 8 and all(float(cols[-1]) == 0.0 for cols in lines)  # control models render nothing
    with pytest.raises(SystemExit, match="unknown command"):
        cli.main(["frobnicate"])
    with pytest.raises(SystemExit, match="unknown task"):
        cli.main(["demos", "--env", "Nope-v1"])


def test_console_script_and_quickstart_example_run():
    exe = Path(sys.executable).with_name("vlmreward")
    out = subprocess.run([str(exe), "--help"], capture_output=True, text=True, check=True).stdout
    assert "vlmreward demo" in out
    out = subprocess.run([sys.executable, str(ROOT / "examples" / "quickstart.py")], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip().endswith("success: True")
