"""The ``asmg`` command as a user meets it: arguments checked before TensorFlow loads, one-line errors with exit
code 2 and no traceback, no TensorFlow start-up chatter, and log-friendly progress when stderr is not a terminal."""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _asmg(*argv: str, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "asmg_cli", *argv], capture_output=True, text=True, timeout=timeout, cwd=ROOT
    )


def test_a_missing_data_path_is_reported_before_tensorflow_loads(tmp_path):
    code = (
        "import sys\nfrom asmg_cli.main import main\n"
        f"rc = main(['bench', '--data', {str(tmp_path / 'nothing.csv')!r}, '--out', {str(tmp_path)!r}])\n"
        "print('RC', rc, 'TF', 'tensorflow' in sys.modules)\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert "RC 2 TF False" in run.stdout, run.stderr[-2000:]
    assert "nothing.csv: no such file or folder" in run.stderr and "Traceback" not in run.stderr


def test_a_malformed_data_file_is_one_message_and_exit_code_2(tmp_path):
    bad = tmp_path / "retail.csv"
    bad.write_text("InvoiceNo,StockCode\n536365,85123A\n")  # Online Retail without its other columns
    run = _asmg("bench", "--data", str(bad), "--format", "online-retail", "--out", str(tmp_path / "out"),
                "--cache-dir", str(tmp_path / "cache"))  # fmt: skip
    assert run.returncode == 2, run.stderr[-3000:]
    assert "asmg bench: " in run.stderr and "missing column(s)" in run.stderr and "retail.csv" in run.stderr
    assert "Traceback" not in run.stderr
    # TensorFlow was loaded (the check needs the reader), without its CPU start-up notices
    for noise in ("cudart_stub", "cuInit", "oneDNN", "absl::InitializeLog"):
        assert noise not in run.stderr, run.stderr


def test_progress_in_a_log_file_is_plain_lines(tmp_path):
    run = _asmg(
        "bench", "--methods", "iu", "--out", str(tmp_path / "out"), "--cache-dir", str(tmp_path / "cache"),
        "--num-periods", "8", "--pretrain-epochs", "1", "--synthetic", "num_users=150", "--synthetic", "num_items=80",
        "--no-plot",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    assert "\r" not in run.stderr  # no progress-bar frames
    assert "iu: iteration" in run.stderr and "AUC" in run.stdout
    assert "cudart_stub" not in run.stderr and "retracing" not in run.stderr


def test_verbose_keeps_the_start_up_messages(tmp_path):
    code = (
        "import sys\nfrom asmg_cli.main import build_parser\n"
        "args = build_parser().parse_args(['--verbose', 'bench', '--list-methods'])\n"
        "print('VERBOSE', args.verbose)\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert "VERBOSE True" in run.stdout, run.stderr


def test_option_means_method_key_value_in_every_command():
    from asmg_cli.main import build_parser

    parser = build_parser()
    bench = parser.parse_args(["bench", "--option", "asmg_plus.k=4"])
    pipe = parser.parse_args(["pipeline", "run", "--span", "3", "--option", "asmg_plus.k=4", "--seed", "7"])
    assert bench.option == pipe.option == [("asmg_plus", "k", 4)]
    assert parser.parse_args(["bench", "--seed", "7"]).seed == pipe.seed == 7  # the base model's seed in both
