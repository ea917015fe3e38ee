"""A TF-Serving-compatible local server (development and tests; production uses ``tensorflow/serving``).

Layout: ``servable`` (one version in a TF1 session), ``inference`` (the RPCs on a servable), ``manager`` (versions
of one model: policy, hot swap, labels), ``core`` (all models, config reloads, polling), ``grpc_service`` and
``rest`` (the two front ends), ``app`` (``LocalServer``).
"""

from serving.server.app import LocalServer

__all__ = ["LocalServer"]
