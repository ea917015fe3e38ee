"""The paper's per-dataset hyper-parameters of the baselines (docs/method.md §4), and option resolution.

Dataset kinds are those of ``asmg_tf.models.presets``: "tmall", "sobazaar" (also Online Retail), "movielens".
A method's options are its preset for the data kind, overridden by what the user passes
(``--option METHOD.KEY=VALUE``); unknown keys are an error. ``lr=None`` means the base configuration's learning
rate (IU's), which is what the paper uses for BU, SPMF and IncCTR.
"""

from __future__ import annotations

from typing import Any

KINDS = ("tmall", "sobazaar", "movielens")


def _per_kind(tmall: dict, sobazaar: dict, movielens: dict) -> dict[str, dict]:
    return {"tmall": tmall, "sobazaar": sobazaar, "movielens": movielens}


#: method family -> data kind -> default options
BASELINE_PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    # BU-w: the window is part of the method name (bu3, bu5, bu7, bu_full)
    "bu": _per_kind(*[{"window": 7, "lr": None}] * 3),
    # SPMF strategy 2: reservoir = frac x pretraining samples of each label; replay = ratio x current samples
    "spmf": _per_kind(
        {"frac": 0.1, "ratio": 0.01, "lr": None, "seed": 1234},
        {"frac": 1.0, "ratio": 0.1, "lr": None, "seed": 1234},
        {"frac": 0.3, "ratio": 0.5, "lr": None, "seed": 1234},
    ),
    # IncCTR: loss (1 - lam) BCE(y) + lam BCE(y_soft)
    "incctr": _per_kind({"lam": 0.2, "lr": None}, {"lam": 0.1, "lr": None}, {"lam": 0.2, "lr": None}),
    # SML on Embedding&MLP. mlp_l1: hidden width of each dense tensor's transfer, in the model's variable order
    # (fcn1 kernel, fcn1 bias, fcn2 kernel, fcn2 bias, fcn3 kernel, fcn3 bias).
    "sml": _per_kind(
        {"base_lr": 1e-2, "transfer_lr": 1e-2, "emb": [10, 5, 20], "mlp": [5, 3], "mlp_l1": [80, 40, 40, 20, 20, 2]},
        {"base_lr": 1e-2, "transfer_lr": 1e-3, "emb": [10, 5, 20], "mlp": [5, 3], "mlp_l1": [40, 20, 20, 10, 10, 1]},
        {"base_lr": 1e-2, "transfer_lr": 1e-3, "emb": [10, 5, 20], "mlp": [5, 3], "mlp_l1": [80, 40, 40, 20, 20, 2]},
    ),
    # SML-MF: its own MF pretraining (pretrain_lr, 10 epochs), then SML on the [embedding, bias] rows
    "sml_mf": _per_kind(
        {
            "pretrain_lr": 1e-3,
            "pretrain_epochs": 10,
            "base_lr": 1e-2,
            "transfer_lr": 1e-2,
            "emb": [10, 5, 20],
            "base_epochs": 5,
            "transfer_epochs": 5,
        },
        {
            "pretrain_lr": 1e-2,
            "pretrain_epochs": 10,
            "base_lr": 1e-2,
            "transfer_lr": 1e-3,
            "emb": [10, 5, 20],
            "base_epochs": 5,
            "transfer_epochs": 5,
        },
        {
            "pretrain_lr": 1e-2,
            "pretrain_epochs": 10,
            "base_lr": 1e-2,
            "transfer_lr": 1e-2,
            "emb": [10, 5, 20],
            "base_epochs": 1,
            "transfer_epochs": 1,
        },
    ),  # fmt: skip
}
for _kind in KINDS:  # SML trains base and transfer one epoch each per period (SML-MF: see its preset)
    BASELINE_PRESETS["sml"][_kind].update(base_epochs=1, transfer_epochs=1)


def baseline_options(family: str, kind: str, options: dict[str, Any]) -> dict[str, Any]:
    """The preset of ``family`` for data ``kind``, updated with ``options`` (unknown keys raise ``ValueError``)."""
    try:
        presets = BASELINE_PRESETS[family]
    except KeyError:
        raise ValueError(f"no presets for {family!r}; known: {sorted(BASELINE_PRESETS)}") from None
    if kind not in presets:
        raise ValueError(f"unknown dataset kind {kind!r} for {family}; choose one of {sorted(presets)}")
    resolved = dict(presets[kind])
    unknown = sorted(set(options) - set(resolved))
    if unknown:
        raise ValueError(f"{family}: unknown option(s) {unknown}; available: {sorted(resolved)}")
    resolved.update(options)
    return resolved


def check_resumed_options(name: str, saved: dict | None, current: dict) -> None:
    """A resumed run must continue with the options it started with."""
    if saved is not None and saved != current:
        raise ValueError(
            f"{name}: the run being resumed used options {saved}, now {current}; resume with the same options "
            "or use another --out"
        )
