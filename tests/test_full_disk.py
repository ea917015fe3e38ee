"""A full disk: ``asmg bench`` and ``asmg export`` on a small size-limited tmpfs mounted by the test (root only; it
skips where mounting is not permitted). Writing fails with one line naming the path, what was committed before is
intact (and, for export, still served), and after space is freed the same command completes: the bench with the
results of an uninterrupted run."""

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = {**os.environ, "PYTHONPATH": REPO, "TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
TINY_BENCH = ["bench", "--methods", "iu", "--num-periods", "8", "--synthetic", "num_users=60",
              "--synthetic", "num_items=40", "--pretrain-epochs", "1", "--no-plot", "--quiet"]  # fmt: skip


@pytest.fixture()
def volume(tmp_path):
    """An 8 MiB tmpfs at ``tmp_path/vol`` (two versions of the tiny export and the lock fit), unmounted afterwards."""
    vol = tmp_path / "vol"
    vol.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a size-limited tmpfs needs root")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(vol)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({r.stderr.strip()})")
    try:
        yield vol
    finally:
        if subprocess.run(["umount", str(vol)]).returncode != 0:
            subprocess.run(["umount", "-l", str(vol)])


def fill(vol, leave_kib: int):
    """A filler file taking all but ``leave_kib`` KiB of ``vol``; returns its path."""
    st = os.statvfs(vol)
    free = st.f_bavail * st.f_frsize
    path = os.path.join(vol, "filler")
    with open(path, "wb") as f:
        f.write(b"\0" * max(0, free - leave_kib * 1024))
    return path


def asmg(*args, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "asmg_cli", *args], cwd=REPO, env=ENV, capture_output=True, text=True, timeout=timeout
    )


def rows(out) -> list:
    with open(os.path.join(out, "results.json")) as f:
        return [(r["iteration"], r["auc"], r["logloss"]) for r in json.load(f)["methods"]["iu"]["per_period"]]


def test_bench_on_a_full_disk_fails_clearly_keeps_what_it_committed_and_resumes(volume, tmp_path):
    reference = asmg(*TINY_BENCH, "--out", str(tmp_path / "ref"), "--cache-dir", str(tmp_path / "ref-cache"))
    assert reference.returncode == 0, reference.stderr
    out, cache = str(volume / "out"), str(volume / "cache")
    filler = fill(volume, leave_kib=300)  # room for the periods and part of the pretraining / IU chain
    full = asmg(*TINY_BENCH, "--out", out, "--cache-dir", cache)
    assert full.returncode == 1, full.stderr
    assert "no space left on device while writing " + str(volume) in full.stderr, full.stderr
    assert "Traceback" not in full.stderr
    # what was committed is readable: the periods (if finished), every checkpoint record
    for folder, _, files in os.walk(volume):
        for name in files:
            if name.endswith(".json") and not name.startswith("."):
                with open(os.path.join(folder, name)) as f:
                    json.load(f)
        assert not [n for n in os.listdir(folder) if n.startswith(".tmp-")], folder
    os.remove(filler)
    resumed = asmg(*TINY_BENCH, "--out", out, "--cache-dir", cache)
    assert resumed.returncode == 0, resumed.stderr
    np.testing.assert_allclose(rows(out), rows(tmp_path / "ref"), atol=1e-6)


def test_export_on_a_full_disk_fails_clearly_and_the_served_version_stays(volume, tmp_path):
    from asmg_tf.files import save_npz
    from asmg_tf.models.weights import get_weights
    from serving.client import ServingClient
    from serving.model_config import ModelEntry
    from serving.server import LocalServer
    from tests.serving_util import VOCAB, raw_items, raw_users, tiny_model

    model, _ = tiny_model(categories=False)
    weights = str(tmp_path / "w.npz")
    save_npz(weights, get_weights(model))
    vocab = str(tmp_path / "vocab")  # the raw ids of the weights' rows (off the full volume)
    VOCAB.write(vocab)
    base = str(volume / "models")
    first = asmg("export", "--weights", weights, "--vocab", vocab, "--base-dir", base, "--version", "1")
    assert first.returncode == 0, first.stderr
    filler = fill(volume, leave_kib=24)
    full = asmg("export", "--weights", weights, "--vocab", vocab, "--base-dir", base, "--version", "2")
    assert full.returncode == 1 and "no space left on device while writing" in full.stderr, full.stderr
    assert "Traceback" not in full.stderr
    assert sorted(os.listdir(os.path.join(base, "asmg"))) == [".asmg.lock", "1"]  # no version 2, no staging
    with LocalServer([ModelEntry("asmg", os.path.join(base, "asmg"))], poll_seconds=0, rest_port=None, log=lambda m: None) as server:  # fmt: skip
        with ServingClient(server.target, "asmg", timeout_s=30) as client:
            assert client.status()[0]["version"] == 1
            probs = client.predict_ids(raw_users([1, 2]), raw_items([3, 4]), [raw_items([5]), []])
    assert np.all((np.asarray(probs) > 0) & (np.asarray(probs) < 1))
    os.remove(filler)
    again = asmg("export", "--weights", weights, "--vocab", vocab, "--base-dir", base, "--version", "2")
    assert again.returncode == 0, again.stderr
    assert sorted(n for n in os.listdir(os.path.join(base, "asmg")) if not n.startswith(".")) == ["1", "2"]


@pytest.mark.slow
def test_backfill_on_a_full_disk_fails_clearly_keeps_its_pushes_and_resumes(tmp_path):
    """The pipeline root on a 64 MiB tmpfs with 5 MiB free (a tiny 6-span backfill needs more; 32 MiB in all no longer
    sufficed once each SavedModel carried its raw-id lookup and input checks, ~1 MiB each): the backfill stops with one line naming the root (whichever
    writer meets the full disk first: a file, or MLMD's SQLite), the versions pushed before are complete and the
    finished spans' metrics stay; after space is freed the same command finishes every span without changing them."""
    from pipeline.metrics_report import metrics_rows

    vol = tmp_path / "vol"
    vol.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(vol)]).returncode:
        pytest.skip("mounting a size-limited tmpfs needs root and mount permission")
    try:
        root = str(vol / "root")
        command = ["pipeline", "backfill", "--root", root, "--num-periods", "6", "--synthetic", "num_users=60",
                   "--synthetic", "num_items=40", "--pretrain-epochs", "1", "--option", "asmg_plus.k=2",
                   "--capacity-headroom", "4.0", "--quiet"]  # fmt: skip
        for field in ("num_periods=6", "pretrain_end=1", "update_start=2", "test_start=4", "test_end=5"):
            command += ["--protocol", field]
        filler = fill(vol, leave_kib=5 * 1024)
        full = asmg(*command, timeout=1800)
        assert full.returncode == 1, full.stdout + full.stderr
        assert re.search(f"(no space left on device|database or disk is full) while writing {re.escape(root)}",
                         full.stderr), full.stderr  # fmt: skip
        assert "Traceback" not in full.stderr
        serving = os.path.join(root, "serving", "asmg")
        pushed = sorted(os.listdir(serving)) if os.path.isdir(serving) else []
        for v in pushed:  # every visible version is complete
            assert os.path.exists(os.path.join(serving, v, "saved_model.pb")), v
        before = metrics_rows(os.path.join(root, "metadata.sqlite"))
        os.remove(filler)
        resumed = asmg(*command, timeout=1800)
        assert resumed.returncode == 0, resumed.stderr
        after = metrics_rows(os.path.join(root, "metadata.sqlite"))
        assert sorted(after) == ["2", "3", "4", "5", "6"] or sorted(map(str, after)) == ["2", "3", "4", "5", "6"]
        for span, row in before.items():  # a span cut short gains fields on the rerun; none it had changes
            assert {k: after[span].get(k) for k in row} == row, span
        assert set(pushed) <= set(os.listdir(serving))
    finally:
        if subprocess.run(["umount", str(vol)]).returncode != 0:
            subprocess.run(["umount", "-l", str(vol)])


def test_full_disk_errors_are_recognised_and_name_the_file(tmp_path):
    """Without a mount: the wording of ``asmg_tf.storage_errors`` for Python's, TensorFlow's and SQLite's errors."""
    import errno

    from asmg_tf.storage_errors import out_of_space

    target = str(tmp_path / "state" / "ckpt.data")
    (tmp_path / "state").mkdir()
    message = out_of_space(OSError(errno.ENOSPC, "No space left on device", target))
    assert message.startswith(f"no space left on device while writing {target}:")
    # TensorFlow names devices (/job:localhost/...) before the file; the file is the one whose folder exists
    tf_text = f"{{{{function_node __wrapped__SaveV2}}}} /job:localhost/replica:0/task:0/device:CPU:0; {target}; No space left on device"
    assert f"writing {target}:" in out_of_space(RuntimeError(tf_text))
    try:
        raise ValueError("wrapped") from RuntimeError("database or disk is full")
    except ValueError as e:
        assert out_of_space(e, writing="the root").startswith("database or disk is full while writing the root")
    assert out_of_space(OSError(errno.EFBIG, "File too large")).startswith("file too large")
    assert out_of_space(ValueError("bad input")) is None
