"""Update methods behind one interface (``UpdateMethod``) and a registry by name for ``asmg bench``."""

from __future__ import annotations

from collections.abc import Callable

from asmg_tf.updaters.asmg import ASMG_METHODS
from asmg_tf.updaters.asmg_plus import ASMG_PLUS_METHODS
from asmg_tf.updaters.base import UpdateMethod
from asmg_tf.updaters.baselines import BASELINE_METHODS
from asmg_tf.updaters.context import Context
from asmg_tf.updaters.iu import IncrementalUpdate

#: name -> factory(ctx, **options) -> UpdateMethod
METHODS: dict[str, Callable[..., UpdateMethod]] = {
    "iu": IncrementalUpdate,
    **BASELINE_METHODS,
    **ASMG_METHODS,
    **ASMG_PLUS_METHODS,
}


def register_method(name: str, factory: Callable[..., UpdateMethod]) -> None:
    METHODS[name] = factory


def make_method(name: str, ctx: Context, **options) -> UpdateMethod:
    try:
        factory = METHODS[name]
    except KeyError:
        raise ValueError(f"unknown method {name!r}; available: {', '.join(sorted(METHODS))}") from None
    method = factory(ctx, **options)
    method.name = name
    return method


__all__ = ["Context", "IncrementalUpdate", "METHODS", "UpdateMethod", "make_method", "register_method"]
