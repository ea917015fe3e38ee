"""Serving: SavedModels for TensorFlow Serving, a gRPC client, and a TF-Serving-compatible local server.

Production serves the exported models with ``tensorflow/serving`` (see ``serving/deploy``); ``asmg serve`` is a
development and test server that speaks the same gRPC and REST protocols.

``import asmg_tf`` comes first so that legacy Keras is chosen before anything imports TensorFlow. Submodules are
imported on demand (``serving.export``, ``serving.client``, ``serving.server``): importing ``serving`` alone stays cheap.
"""

import asmg_tf  # noqa: F401  (legacy Keras before TensorFlow)
