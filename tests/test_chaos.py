"""Kill -9 anywhere: a few seeded kill instants of ``tools/chaos.py`` per command in CI (slow: the closing-note run
uses 30 per command), and the regression tests of what the chaos work found."""

import json
import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = {**os.environ, "PYTHONPATH": REPO, "TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}


@pytest.mark.slow
@pytest.mark.parametrize("command", ["bench", "export"])
def test_killed_commands_rerun_to_the_uninterrupted_result(command, tmp_path):
    r = subprocess.run(
        [sys.executable, "tools/chaos.py", "--command", command, "--trials", "2", "--seed", "5", "--work", str(tmp_path)],
        cwd=REPO, env=ENV, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    summary = json.loads(r.stdout.split("SUMMARY ", 1)[1])
    assert r.returncode == 0, r.stdout + r.stderr
    assert summary["trials"] == summary["survived"] == summary["identical"] == 2
    assert summary["data_lost"] == 0 and summary["leftover_temporaries"] == 0


def test_finding_a_kill_between_the_iu_checkpoint_and_its_record_does_not_train_a_period_twice(tmp_path):
    """Found designing the chaos harness: the IU chain saved its state, then ``chain.json`` in a second write; a
    kill between them left the state of period i beside a record of i-1, and the rerun trained period i again on
    top of it. The record is now saved inside the checkpoint it describes."""
    from asmg_tf.models.weights import load_weights_npz
    from asmg_tf.updaters import Context
    from tests.test_asmg_updater import CONFIG, tiny_periods

    periods = tiny_periods()
    ctx = Context(periods, CONFIG, str(tmp_path / "ctx"), log=lambda m: None)
    last = periods.protocol.update_start + 1
    ctx.run_iu_chain(last)
    before = load_weights_npz(ctx.iu_weights_path(last))
    # what the kill left: the readable chain.json one period behind the checkpoint
    record = ctx.iu_record()
    (tmp_path / "ctx" / "iu" / "chain.json").write_text(json.dumps({**record, "done": last - 1}))
    ctx.run_iu_chain(last)
    after = load_weights_npz(ctx.iu_weights_path(last))
    assert ctx.iu_record()["done"] == last
    for key in before:
        assert (before[key] == after[key]).all(), key
