"""Test set-up: legacy Keras before any TensorFlow import, and the shared datasets."""

import os
import pathlib

os.environ["TF_USE_LEGACY_KERAS"] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> pathlib.Path:
    """``../shared/data`` relative to the repository root; fail (not skip) when it is missing."""
    if not SHARED_DATA.is_dir():
        pytest.fail(
            f"the shared datasets are missing: expected them at {SHARED_DATA} (../shared/data from the repo root). "
            "Clone the project next to its shared/ folder."
        )
    return SHARED_DATA
