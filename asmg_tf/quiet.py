"""Start TensorFlow without its start-up chatter on a CPU machine (commands call this before their heavy imports).

TensorFlow's C++ runtime writes lines such as ``cudart_stub.cc: Could not find cuda drivers``, ``cuda_platform.cc:
failed call to cuInit`` and the oneDNN / CPU-feature notices straight to file descriptor 2, before absl logging is
set up, so no environment variable hides them (``TF_CPP_MIN_LOG_LEVEL`` included, measured on TF 2.21). They come
at import and when the devices are first listed. ``import_tensorflow`` runs both with descriptor 2 sent to a
temporary file, then writes back every captured line that is not one of those notices: a real error still shows.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile

#: start-up notices of a CPU machine (C++ log lines and their continuation)
NOISE = re.compile(
    r"^(WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    r"|[IWE]\d{4} [\d:. ]+\d+ (port|cudart_stub|cuda_platform|cuda_executor|cpu_feature_guard|cuda_dnn|cuda_fft"
    r"|cuda_blas)\.cc:\d+\].*"
    r"|To enable the following instructions: .*)$"
)


def filter_startup_noise(text: str) -> str:
    """``text`` without the start-up notices (other lines kept, in order)."""
    return "".join(line for line in text.splitlines(keepends=True) if not NOISE.match(line.rstrip("\n")))


def import_tensorflow(verbose: bool = False):
    """Import TensorFlow (legacy Keras) and list its devices; unless ``verbose``, without the start-up notices."""
    import asmg_tf  # noqa: F401  (legacy Keras first)

    if verbose or "tensorflow" in sys.modules:
        import tensorflow as tf

        return tf
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import tensorflow as tf

            tf.keras.backend.floatx()  # resolves tf.keras (tf_keras): its own start-up lines come here
            tf.config.list_physical_devices()  # device initialisation (cuInit) logs here
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            rest = filter_startup_noise(captured.read().decode("utf-8", "replace"))
            if rest:
                sys.stderr.write(rest)
    tf.get_logger().setLevel("ERROR")  # retracing notices and the like; --verbose keeps them
    return tf
