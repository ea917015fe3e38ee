"""One writer per folder (``asmg_tf.locking``), with real processes: a second ``asmg bench`` / ``asmg pipeline
backfill`` / ``asmg export`` on a held folder fails at once under ``--no-wait`` (exit code 3, naming the holder's
pid) or waits with a message and then runs; a lock left by a SIGKILLed holder is taken over at once and the
temporaries it left are swept."""

import os
import signal
import subprocess
import sys
import time

import pytest

from asmg_tf import locking

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = {**os.environ, "PYTHONPATH": REPO, "TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
# a holder: takes the lock, says so, then holds it until stdin closes (or it is killed)
HOLD = "import sys; from asmg_tf.locking import exclusive\nwith exclusive(sys.argv[1]):\n print('held', flush=True); sys.stdin.read()"


def _holder(folder) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(folder)], cwd=REPO, env=ENV, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    assert proc.stdout.readline().strip() == "held"
    return proc


def _asmg(*args, timeout=120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "asmg_cli", *args], cwd=REPO, env=ENV, capture_output=True, text=True, timeout=timeout
    )


@pytest.mark.parametrize(
    "command",
    [
        ["bench", "--methods", "iu", "--no-plot", "--out", "{folder}"],
        ["pipeline", "backfill", "--root", "{folder}"],
        ["pipeline", "run", "--root", "{folder}", "--span", "3"],
    ],
    ids=["bench", "pipeline-backfill", "pipeline-run"],
)
def test_no_wait_fails_at_once_with_exit_code_3_naming_the_holder(tmp_path, command):
    folder = tmp_path / "shared"
    holder = _holder(folder)
    try:
        start = time.perf_counter()
        r = _asmg(*[a.replace("{folder}", str(folder)) for a in command], "--no-wait")
        seconds = time.perf_counter() - start
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
    assert r.returncode == locking.EXIT_LOCKED, r.stderr
    assert f"pid {holder.pid}" in r.stderr and str(folder) in r.stderr, r.stderr
    assert seconds < 60  # failed before any work (the bench before TensorFlow loads)
    assert not (folder / "results.json").exists() and not (folder / "pipeline.json").exists()


def test_export_no_wait_exit_code_3(tmp_path):
    from asmg_tf.files import save_npz
    from asmg_tf.models.weights import get_weights
    from tests.serving_util import VOCAB, tiny_model

    model, _ = tiny_model(categories=False)
    save_npz(str(tmp_path / "w.npz"), get_weights(model))
    VOCAB.write(str(tmp_path / "vocab"))
    export = ["export", "--weights", str(tmp_path / "w.npz"), "--vocab", str(tmp_path / "vocab"), "--base-dir",
              str(tmp_path / "models"), "--no-wait"]  # fmt: skip
    holder = _holder(tmp_path / "models" / "asmg")
    try:
        r = _asmg(*export)
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
    assert r.returncode == locking.EXIT_LOCKED and f"pid {holder.pid}" in r.stderr, r.stderr
    assert not [n for n in os.listdir(tmp_path / "models" / "asmg") if not n.startswith(".")]
    # the holder is gone: the same export now writes its version, and sweeps a killed exporter's staging folder
    (tmp_path / "models" / "asmg" / ".tmp-7-x" / "version").mkdir(parents=True)
    r = _asmg(*export)
    assert r.returncode == 0, r.stderr
    assert os.path.isdir(r.stdout.strip())
    assert not (tmp_path / "models" / "asmg" / ".tmp-7-x").exists()  # found by the chaos run: it was left


def test_a_waiter_says_whom_it_waits_for_then_runs(tmp_path):
    folder = tmp_path / "root"
    holder = _holder(folder)
    waiter = subprocess.Popen(
        [sys.executable, "-c", "import sys; from asmg_tf.locking import exclusive\nwith exclusive(sys.argv[1]): print('got it')",
         str(folder)], cwd=REPO, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        time.sleep(1.5)
        assert waiter.poll() is None, "the waiter did not wait"
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
    out, err = waiter.communicate(timeout=30)
    assert waiter.returncode == 0 and out.strip() == "got it"
    assert f"waiting for {folder}: locked by pid {holder.pid}" in err and "--no-wait" in err


def test_the_lock_of_a_killed_holder_is_taken_over_and_its_temporaries_swept(tmp_path):
    folder = tmp_path / "out"
    holder = _holder(folder)
    # what a writer killed mid-write leaves: a checkpoint staging folder, a write_text temporary, a save_npz one
    (folder / "methods" / ".tmp-ckpt-x").mkdir(parents=True)
    (folder / "methods" / ".progress.json-abc.tmp").write_text("{")
    (folder / "methods" / "tmpabc.npz").write_bytes(b"PK")
    # ... and a sub-folder with its own lock (another writer's domain) is left alone
    (folder / "cache").mkdir()
    (folder / "cache" / locking.LOCK_FILE).write_text("")
    (folder / "cache" / ".tmp-ckpt-y").mkdir()
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=30)
    messages = []
    start = time.perf_counter()
    with locking.exclusive(str(folder), wait=False, sweep=True, log=messages.append) as me:
        assert me["pid"] == os.getpid()
        assert locking.read_holder(str(folder))["pid"] == os.getpid()
    assert time.perf_counter() - start < 5
    assert any(f"left by pid {holder.pid}" in m and "no longer running" in m for m in messages), messages
    assert sorted(os.listdir(folder / "methods")) == []
    assert (folder / "cache" / ".tmp-ckpt-y").exists()
    assert locking.read_holder(str(folder)) is None  # a clean release forgets the holder


def test_nested_locks_on_one_folder_in_one_process_do_not_deadlock(tmp_path):
    with locking.exclusive(str(tmp_path), wait=False):
        with locking.exclusive(str(tmp_path), wait=False):
            pass
        # still held: another process cannot take it
        r = subprocess.run(
            [sys.executable, "-c", "import sys; from asmg_tf.locking import exclusive\nwith exclusive(sys.argv[1], wait=False): pass",
             str(tmp_path)], cwd=REPO, env=ENV, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert r.returncode != 0 and "LockBusy" in r.stderr and f"pid {os.getpid()}" in r.stderr
