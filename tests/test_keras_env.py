"""asmg_tf must run on legacy Keras (tf_keras) and refuse loudly when Keras 3 already won."""

import os
import subprocess
import sys
import textwrap

import asmg_tf
from asmg_tf._keras_env import KerasVersionError

# Imports asmg_tf and prints what happened.
_IMPORT_ASMG = textwrap.dedent(
    """
    try:
        import asmg_tf
    except BaseException as e:
        print("RAISED", type(e).__module__, type(e).__qualname__)
        print("MESSAGE", e)
    else:
        print("NO ERROR")
    """
)
# Imports TensorFlow *without* TF_USE_LEGACY_KERAS and resolves tf.keras (Keras 3) before asmg_tf.
_KERAS3_FIRST = "import tensorflow as tf\nprint('KERAS', tf.keras.__name__)\n" + _IMPORT_ASMG


def _run_clean(code: str, **env: str) -> list[str]:
    """Run ``code`` in a fresh interpreter whose environment has no TF_USE_LEGACY_KERAS (plus ``env``)."""
    clean = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
    clean["TF_CPP_MIN_LOG_LEVEL"] = "2"
    clean.update(env)
    proc = subprocess.run(
        [sys.executable, "-c", code], env=clean, capture_output=True, text=True, timeout=300, check=False
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.splitlines()


def _raised(lines: list[str]) -> str:
    return next((line for line in lines if line.startswith(("RAISED", "NO ERROR"))), "no result line")


def test_import_after_keras3_resolved_raises():
    lines = _run_clean(_KERAS3_FIRST)
    keras = next(line for line in lines if line.startswith("KERAS "))
    assert not keras.split()[1].startswith("tf_keras"), f"expected Keras 3 in the subprocess, got {keras}"
    assert _raised(lines) == "RAISED asmg_tf._keras_env KerasVersionError", lines
    assert any("TF_USE_LEGACY_KERAS=1" in line for line in lines if line.startswith("MESSAGE")), lines


def test_env_selecting_keras3_raises():
    assert _raised(_run_clean(_IMPORT_ASMG, TF_USE_LEGACY_KERAS="0")) == "RAISED asmg_tf._keras_env KerasVersionError"


def test_keras_version_error_is_an_import_error():
    assert issubclass(KerasVersionError, ImportError)


def test_import_uses_legacy_keras():
    assert asmg_tf.__version__
    assert os.environ["TF_USE_LEGACY_KERAS"] == "1"
    import tensorflow as tf

    assert tf.keras.__name__.startswith("tf_keras"), tf.keras.__name__
