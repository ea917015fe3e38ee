"""Rankers by name: register a class, build one from sizes and options, describe and rebuild a saved one.

A *description* ``{"model": name, "config": get_config()}`` is what every saved model carries (bench caches,
pipeline Model artifacts, exports), so anything saved can be rebuilt without knowing its class::

    @register_ranker("my_tower")
    class MyTower(asmg_tf.models.Ranker): ...

    model = build_ranker("my_tower", num_users=100, num_items=50, hidden=[16])
    same = from_description(describe(model))
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import tensorflow as tf

from asmg_tf.layers.registry import register
from asmg_tf.model_names import DEFAULT_RANKER, SHIPPED_RANKERS
from asmg_tf.models.ranker import RankerContractError

_RANKERS: dict[str, type] = {}
T = TypeVar("T", bound=type)


def register_ranker(name: str) -> Callable[[T], T]:
    """Class decorator: make ``cls`` the ranker called ``name`` (and Keras-serializable as ``asmg>ClassName``).

    Registering a name again replaces it (a module file reloaded by TFX registers its class anew)."""
    if not name or not name.replace("_", "").isalnum():
        raise ValueError(f"ranker names are letters, digits and underscores; got {name!r}")

    def decorate(cls: T) -> T:
        cls.ranker_name = name
        _RANKERS[name] = register(cls)
        return cls

    return decorate


def _load_shipped() -> None:
    import importlib

    for module, _ in SHIPPED_RANKERS.values():
        importlib.import_module(module)


def ranker_names() -> list[str]:
    """Every registered ranker name (the shipped ones first, then user-registered ones)."""
    _load_shipped()
    return list(SHIPPED_RANKERS) + sorted(set(_RANKERS) - set(SHIPPED_RANKERS))


def ranker_class(name: str) -> type:
    _load_shipped()
    if name not in _RANKERS:
        raise ValueError(
            f"unknown model {name!r}; registered: {', '.join(ranker_names())}. A model of your own must be "
            "registered with @asmg_tf.models.register_ranker(name) in a module that is imported first "
            "(asmg bench --model-module FILE, asmg pipeline --model-module FILE)"
        )
    return _RANKERS[name]


def ranker_name(model: tf.keras.Model) -> str:
    """The registered name of ``model``'s class."""
    # the class itself must be registered (not a subclass inheriting its parent's name); a module reloaded by TFX
    # registers a new class object under the same name, so models of the earlier one still count
    name = type(model).__dict__.get("ranker_name")
    if name is None or name not in _RANKERS:
        raise RankerContractError(
            f"{type(model).__name__} is not a registered ranker: decorate it with "
            "@asmg_tf.models.register_ranker('a_name')"
        )
    return name


def build_ranker(
    name: str, num_users: int, num_items: int, num_categories: int = 0, embedding_dim: int = 8, **options
) -> tf.keras.Model:
    """A new, unbuilt ranker ``name`` with these table sizes and options."""
    cls = ranker_class(name)
    try:
        return cls(num_users, num_items, num_categories, embedding_dim=embedding_dim, **options)
    except TypeError as e:
        raise ValueError(f"model {name!r} does not take these options {sorted(options)}: {e}") from None


def describe(model: tf.keras.Model) -> dict:
    """``{"model": name, "config": config}``: enough to rebuild ``model`` (without weights)."""
    return {"model": ranker_name(model), "config": model.get_config()}


def from_description(description: dict, sizes: dict[str, int] | None = None) -> tf.keras.Model:
    """A new, unbuilt ranker from ``describe``'s output; ``sizes`` (``{"users": n, ...}``) replace table sizes."""
    config = dict(description["config"])
    for space, n in (sizes or {}).items():
        config["num_" + space] = int(n)
    return ranker_class(description.get("model", DEFAULT_RANKER)).from_config(config)


def id_tables_of(description: dict) -> dict[str, str]:
    """``id_tables()`` of the ranker ``description`` (read off a one-row-per-table copy: cheap at any size)."""
    config = description["config"]
    sizes = {"users": 1, "items": 1, "categories": min(1, int(config.get("num_categories", 0)))}
    model = from_description(description, sizes)
    model(model.example_features())
    return dict(model.id_tables())


def import_model_module(path: str):
    """Execute a user's module file (it registers its ranker with ``@register_ranker``), as a module named after
    the file, and return the module. Errors name the file."""
    import importlib.util
    import os
    import sys

    if not os.path.isfile(path):
        raise ValueError(f"model module {path!r} does not exist")
    name = "asmg_user_" + os.path.splitext(os.path.basename(path))[0]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as e:  # noqa: BLE001  (a user's file: any error is reported as such)
        raise ValueError(f"model module {path!r} failed to import: {type(e).__name__}: {e}") from e
    return module
