"""One iteration of the protocol, for any update method: the step ``asmg bench`` and the TFX pipeline both take.

The protocol is a sequence ``serve(i) -> score on period i+1 -> observe(i) -> serve(i+1) -> ...``. A step cuts it
where a pipeline run has to: after the served model was scored, before anything learns from that period. Step i:

    restore the method (state saved after step i-1, or a fresh start)
    observe(i-1)          period i has been scored (test-then-train): methods that learn from it (ASMG, SML) do now
    model = serve(i)      incorporate period i; ``model`` serves period i+1
    save the method       atomically: checkpoint of ``trackables()``, ``extra_state()`` and the caller's record

The caller scores ``model`` on period i+1 (``asmg bench`` at once, before saving, so its row goes into the same
atomic save; the pipeline in the next run's TestThenTrain). The state is saved between ``serve(i)`` and
``observe(i)``, so a resumed or next run continues exactly where an uninterrupted one would, and a kill at any
instant leaves either the whole of step i or none of it.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Callable

import tensorflow as tf

from asmg_tf.training.state import read_checkpoint, write_checkpoint
from asmg_tf.updaters.base import UpdateMethod

STATE_FILE = "state.json"
FORMAT = "asmg-method-state/1"


@dataclasses.dataclass
class StepResult:
    """What step i produced: the model serving period i+1 and the seconds of its two halves."""

    iteration: int
    model: tf.keras.Model
    observe_seconds: float
    serve_seconds: float
    reported_seconds: float | None  # the method's own figure when it knows better than wall time (cached work)

    @property
    def seconds(self) -> float:
        return self.reported_seconds if self.reported_seconds is not None else self.serve_seconds + self.observe_seconds


class MethodState:
    """A method's state between steps, in ``directory`` (one atomic unit): ``ckpt*`` (``trackables()``) and
    ``state.json`` = ``{"format", "iteration", "extra_state", "record"}``."""

    def __init__(self, directory: str):
        self.directory = directory

    @property
    def _current(self) -> str | None:
        """The folder holding the newest complete state (``.old`` after a crash between ``write_checkpoint``'s two
        renames), or None."""
        for folder in (self.directory, self.directory + ".old"):
            if os.path.exists(os.path.join(folder, STATE_FILE)):
                return folder
        return None

    def exists(self) -> bool:
        return self._current is not None

    def read(self) -> dict:
        if self._current is None:
            raise FileNotFoundError(f"no method state in {self.directory}")
        with open(os.path.join(self._current, STATE_FILE)) as f:
            saved = json.load(f)
        if saved.get("format") != FORMAT:
            raise ValueError(f"{self.directory}: unknown method state format {saved.get('format')!r}")
        return saved

    @property
    def iteration(self) -> int:
        """The last iteration served (the next step observes it, then serves the one after)."""
        return int(self.read()["iteration"])

    @property
    def record(self):
        """What the caller saved with the state (the bench: its per-period rows)."""
        return self.read()["record"]

    def load(self, method: UpdateMethod, read: Callable[[str, UpdateMethod], None] | None = None) -> None:
        """``restore`` then the checkpoint (``read(directory, method)`` instead, e.g. to enlarge grown tables)."""
        method.restore(self.read()["extra_state"])
        if method.trackables():
            if read is not None:
                read(self.directory, method)
            else:
                read_checkpoint(self.directory, **method.trackables())

    def save(self, method: UpdateMethod, iteration: int, record=None) -> None:
        """Checkpoint, extra state and ``record``, written together atomically (``write_checkpoint``)."""
        saved = {"format": FORMAT, "iteration": iteration, "extra_state": method.extra_state(), "record": record}
        write_checkpoint(self.directory, files={STATE_FILE: json.dumps(saved, indent=1)}, **method.trackables())


def open_method(method: UpdateMethod, state: MethodState, **load_options) -> bool:
    """Restore ``method`` from ``state`` when it holds one (True), else ``start()`` it (False)."""
    if state.exists():
        state.load(method, **load_options)
        return True
    method.start()
    return False


def step(method: UpdateMethod, i: int) -> StepResult:
    """Step i (module docstring) on an opened ``method``: observe(i-1) when it served i-1, then serve(i); the caller
    saves (``MethodState.save``), after scoring when it scores at once."""
    observe_seconds = 0.0
    if i - 1 >= method.first_iteration():
        start = time.perf_counter()
        method.observe(i - 1)
        observe_seconds = time.perf_counter() - start
    method.reported_seconds = None
    start = time.perf_counter()
    model = method.serve(i)
    serve_seconds = time.perf_counter() - start
    return StepResult(i, model, observe_seconds, serve_seconds, method.reported_seconds)
