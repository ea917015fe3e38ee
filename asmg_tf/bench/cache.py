"""Cache keys: preprocessed periods and the pretrained model / IU chain are reused across bench runs."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os


def default_cache_root() -> str:
    return os.path.join(os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "asmg")


def _digest(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:12]


def _file_digest(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def data_key(data: str | None, **settings) -> str:
    """Identifies a preprocessed dataset: the input files' contents (name within ``data`` and SHA-256) and every
    preprocessing setting. Content, not modification time or location: a copied or re-synced folder of the same
    files reuses the cache (hashing the shared datasets takes well under a second)."""
    files = []
    if data:
        if os.path.isfile(data):
            paths, root = [data], os.path.dirname(data)
        else:
            paths, root = sorted(os.path.join(r, f) for r, _, fs in os.walk(data) for f in fs), data
        files = [(os.path.relpath(p, root), _file_digest(p)) for p in paths]
    return _digest({"files": files, "settings": settings, "version": 2})


def train_key(config, model_module: str | None = None) -> str:
    """Identifies a pretrained model and IU chain: every base-model setting (the ranker included) and, for a ranker
    from a user's module file, that file's contents (an edited model is another model)."""
    settings = dataclasses.asdict(config)
    if settings["model"] == "embedding_mlp" and not settings["model_options"]:
        # the default ranker keeps the keys it had before models were selectable (caches stay valid)
        del settings["model"], settings["model_options"]
    if model_module:
        settings["model_module"] = _file_digest(model_module)
    return _digest({"config": settings, "version": 1})
