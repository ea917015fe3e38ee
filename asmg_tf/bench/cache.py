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


def data_key(data: str | None, **settings) -> str:
    """Identifies a preprocessed dataset: the input file(s) (path, size, mtime) and every preprocessing setting."""
    files = []
    if data:
        paths = [data] if os.path.isfile(data) else sorted(os.path.join(r, f) for r, _, fs in os.walk(data) for f in fs)
        files = [(os.path.abspath(p), os.path.getsize(p), int(os.path.getmtime(p))) for p in paths]
    return _digest({"files": files, "settings": settings, "version": 1})


def train_key(config) -> str:
    return _digest({"config": dataclasses.asdict(config), "version": 1})
