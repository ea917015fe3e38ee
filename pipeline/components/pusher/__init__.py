"""VersionedPusher: push the model that serves next into ``<serving_dir>/<span>/``."""

from pipeline.components.pusher.component import VersionedPusher

__all__ = ["VersionedPusher"]
