"""``asmg pipeline`` wiring: help is instant (no TensorFlow/TFX import), errors are one clear line."""

import subprocess
import sys

CHECK = """
import sys
from asmg_cli.main import build_parser
parser = build_parser()
for argv in (["--help"], ["pipeline", "--help"], ["pipeline", "backfill", "--help"], ["pipeline", "compile", "--help"]):
    try:
        parser.parse_args(argv)
    except SystemExit:
        pass
heavy = sorted(m for m in ("tensorflow", "tfx", "apache_beam") if m in sys.modules)
print("HEAVY", heavy)
"""


def test_help_imports_neither_tensorflow_nor_tfx():
    run = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert "HEAVY []" in run.stdout
    assert "backfill" in run.stdout and "compile" in run.stdout


def test_metrics_of_a_missing_root_is_a_clear_error(tmp_path):
    run = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "metrics", "--root", str(tmp_path / "nothing")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 1
    assert "is not a pipeline root" in run.stderr and "Traceback" not in run.stderr
