"""Main of every ``pytest_test`` (tools/bazel/pytest.bzl): run pytest on the files Bazel passes as arguments.

Runs from the runfiles tree, where ``pyproject.toml`` sits at the root, so pytest picks up the project's
configuration (markers, warning filters) and the package's ``conftest.py``.
"""

import os
import sys

import pytest


def main(argv: list[str]) -> int:
    tmp = os.environ.get("TEST_TMPDIR")
    if tmp:
        # Bazel's sandbox has no HOME; TensorFlow, Keras and matplotlib want somewhere to write.
        os.environ.setdefault("HOME", tmp)
        os.environ.setdefault("MPLCONFIGDIR", os.path.join(tmp, "matplotlib"))
    # Runfiles point into the source tree: leave no __pycache__ or .pytest_cache behind there.
    sys.dont_write_bytecode = True
    args = ["-q", "-p", "no:cacheprovider", *argv]
    xml = os.environ.get("XML_OUTPUT_FILE")
    if xml:
        args.append(f"--junitxml={xml}")
    return int(pytest.main(args))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
