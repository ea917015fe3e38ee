"""The generator's history artifact: everything the ASMG component needs from earlier runs, rolled forward.

Layout (a ``File`` artifact, see ``pipeline.artifacts``)::

    history.json              span, method and options, table capacities, model config, which spans are kept,
                              meta-training rounds so far, what was served, timings
    iu/weights_<t>.npz        the IU models of the generator's next windows (the last k; all for k = "full")
    data/period_<t>.npz       the periods its next meta-training targets (all but the one still to come)
    generator/                the method's state (``asmg_tf.updaters.step.MethodState``: checkpoint + state.json),
                              saved between serve(t) and observe(t)
    generated.npz             the generated weights of this run, when there are any (the next run scores them)

What was served is not kept here: the pusher decides it after this component (``BlessingGate``), and the next run
scores the pushed SavedModel itself.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from asmg_tf.data.periods import PeriodData
from asmg_tf.npz_rows import NpzRows
from pipeline import fs
from pipeline import state as S
from pipeline.examples import load_period_npz, save_period_npz

FILE = "history.json"
FORMAT = "asmg-history/1"
GENERATOR_DIR = "generator"
GENERATED = "generated.npz"


def iu_path(uri: str, span: int) -> str:
    return fs.join(uri, "iu", f"weights_{span:05d}.npz")


def data_path(uri: str, span: int) -> str:
    return fs.join(uri, "data", f"period_{span:05d}.npz")


@dataclasses.dataclass
class History:
    """A read view of a history artifact."""

    uri: str
    info: dict

    @classmethod
    def load(cls, uri: str) -> History:
        path = fs.join(uri, FILE)
        if not fs.exists(path):
            raise FileNotFoundError(f"{uri} is not a generator history (no {FILE})")
        info = S.read_json(path)
        if info.get("format") != FORMAT:
            raise ValueError(f"{path}: unknown format {info.get('format')!r}")
        return cls(uri, info)

    @property
    def span(self) -> int:
        return int(self.info["span"])

    @property
    def capacity(self) -> dict[str, int]:
        return self.info["capacity"]

    def iu_weights(self, span: int) -> dict[str, np.ndarray]:
        self._check_iu(span)
        return fs.load_npz(iu_path(self.uri, span))

    def _check_iu(self, span: int) -> None:
        if span not in self.info["iu_spans"]:
            raise KeyError(f"history of span {self.span} keeps IU models {self.info['iu_spans']}, not {span}")

    def iu_rows(self, span: int) -> NpzRows:
        """The same IU model, read by row ranges (``fs.npz_rows``)."""
        self._check_iu(span)
        return fs.npz_rows(iu_path(self.uri, span))

    def period(self, span: int) -> PeriodData:
        if span not in self.info["data_spans"]:
            raise KeyError(f"history of span {self.span} keeps periods {self.info['data_spans']}, not {span}")
        return load_period_npz(data_path(self.uri, span))

    def weights(self, name: str) -> dict[str, np.ndarray] | None:
        path = fs.join(self.uri, name)
        return fs.load_npz(path) if fs.exists(path) else None

    @property
    def generator_dir(self) -> str:
        return fs.join(self.uri, GENERATOR_DIR)

    def extra_state(self) -> dict | None:
        """The method's ``extra_state()`` as saved (None before its first serve)."""
        from asmg_tf.updaters.step import MethodState

        state = MethodState(self.generator_dir)
        return state.read()["extra_state"] if state.exists() else None


def write_history(
    uri: str,
    info: dict,
    iu: dict[int, dict[str, np.ndarray]],
    data: dict[int, PeriodData],
    generated: dict[str, np.ndarray] | None,
) -> None:
    """Write a history artifact (the generator's checkpoint is written separately into ``generator/``)."""
    for t, w in iu.items():
        fs.save_npz(iu_path(uri, t), w)
    for t, d in data.items():
        save_period_npz(data_path(uri, t), d)
    if generated is not None:
        fs.save_npz(fs.join(uri, GENERATED), generated)
    S.write_json(
        fs.join(uri, FILE),
        {
            **info,
            "format": FORMAT,
            "iu_spans": sorted(iu),
            "data_spans": sorted(data),
            "has_generated": generated is not None,
        },
    )
