"""Beam options name the workers' environment, so TFX's executors do not repackage TFX into /tmp on every run."""

import pytest

from pipeline.beam_args import DEFAULT_WORKER_IMAGE, with_worker_environment
from pipeline.factory import LOCAL_BEAM_ARGS

pytest.importorskip("tfx")


def test_the_local_args_get_the_default_image_and_tfx_then_leaves_them_alone(tmp_path, monkeypatch):
    from tfx.utils import dependency_utils

    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    args = with_worker_environment(LOCAL_BEAM_ARGS)
    assert args == [*LOCAL_BEAM_ARGS, f"--sdk_container_image={DEFAULT_WORKER_IMAGE}"]
    assert dependency_utils.make_beam_dependency_flags(args) == args  # TFX's own check: nothing to add
    assert not list(tmp_path.iterdir())  # and nothing built


def test_an_explicit_image_wins_and_user_environments_are_kept():
    assert with_worker_environment(["--runner=DirectRunner"], "reg/asmg:1")[-1] == "--sdk_container_image=reg/asmg:1"
    for given in (
        ["--setup_file=/src/setup.py"],
        ["--extra-package", "/w/a.tar.gz"],
        ["--requirements_file=r.txt"],
        ["--sdk_container_image=mine:2"],
        ["--worker_harness_container_image=mine:3"],
    ):
        assert with_worker_environment(given, "reg/asmg:1") == given
