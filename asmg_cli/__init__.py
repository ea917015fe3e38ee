"""The ``asmg`` command: one dispatcher over the library's and the applications' subcommands.

It lives outside ``asmg_tf`` so the library imports none of its applications: ``bench`` comes from
``asmg_tf.bench.cli``, ``serve/predict/rank/export`` from ``serving.cli``, ``pipeline`` from ``pipeline.cli``. Parsers
are argparse only; TensorFlow and TFX load when a command runs, after its arguments were checked.
"""
