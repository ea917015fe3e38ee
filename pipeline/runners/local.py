"""Local runs with ``LocalDagRunner``: one run per span, backfills that resume, all under one root folder.

Layout of a root::

    pipeline.json       the pipeline's knobs (``create_pipeline`` arguments), fixed when the root is created
    spans/              span folders, when the root was created from a data file (else ``spans_root`` points away)
    tfx/                TFX's pipeline root (every artifact)
    metadata.sqlite     MLMD
    runs.jsonl          wall seconds of every run (``asmg pipeline metrics --timings``)
    serving/<name>/     pushed versions, ``<span>/`` each: TF Serving's ``--model_base_path``
"""

from __future__ import annotations

import json
import os
import sys
import time

from asmg_tf.model_names import DEFAULT_RANKER
from pipeline import DEFAULT_METHOD, LEGACY_METHOD
from pipeline import spans as spans_mod
from pipeline import state as S

CONFIG = "pipeline.json"
RUNS_LOG = "runs.jsonl"
#: knobs fixed by the root layout, not stored
_PATH_KNOBS = ("pipeline_root", "serving_dir", "metadata_path", "span", "resolution")


def knobs_from_spans(spans_root: str, **overrides) -> dict:
    """``create_pipeline`` knobs for a spans folder: data facts from ``spans.json``, then ``overrides``."""
    info = spans_mod.read_spans_info(spans_root)
    knobs = {
        "spans_root": os.path.abspath(spans_root),
        "protocol": info["protocol"],
        "first_span": 0 if 0 in spans_mod.list_spans(spans_root) else 1,
        "explicit": info["explicit"],
        "positive_rating": info["positive_rating"],
        "history_granularity": info["history_granularity"],
        "has_categories": info["has_categories"],
        "data_kind": info["kind"],
        "method": DEFAULT_METHOD,  # recorded, so a later change of the default cannot change an existing root
        "model": DEFAULT_RANKER,
    }
    knobs.update({k: v for k, v in overrides.items() if v is not None})
    return knobs


def _with_legacy_method(knobs: dict) -> dict:
    """Roots created before the method (or the ranker) was recorded ran the defaults of the time."""
    return {"method": LEGACY_METHOD, "model": DEFAULT_RANKER, **knobs}


class LocalPipeline:
    """The pipeline under one root folder (see the module docstring)."""

    def __init__(self, root: str):
        self.root = os.path.abspath(root)
        path = os.path.join(self.root, CONFIG)
        if not os.path.exists(path):
            raise FileNotFoundError(
                f"{self.root} is not a pipeline root (no {CONFIG}); create it with `asmg pipeline run`"
            )
        self.knobs = _with_legacy_method(S.read_json(path))

    @classmethod
    def create(cls, root: str, knobs: dict) -> LocalPipeline:
        """Create (or reopen, when the knobs are the same) the root; changed knobs are refused."""
        root = os.path.abspath(root)
        bad = sorted(set(knobs) & set(_PATH_KNOBS))
        if bad:
            raise ValueError(f"{bad} are set by the root layout, not knobs")
        path = os.path.join(root, CONFIG)
        knobs = json.loads(json.dumps(knobs))
        if os.path.exists(path):
            old = _with_legacy_method(S.read_json(path))
            if old != knobs:
                changed = sorted(k for k in set(old) | set(knobs) if old.get(k) != knobs.get(k))
                raise ValueError(
                    f"{root} was created with other settings ({', '.join(changed)}): "
                    + "; ".join(f"{k}: {old.get(k)!r} -> {knobs.get(k)!r}" for k in changed)
                    + ". Use another root, or the same settings."
                )
        else:
            os.makedirs(root, exist_ok=True)
            S.write_json(path, knobs)
        return cls(root)

    @property
    def metadata_path(self) -> str:
        return os.path.join(self.root, "metadata.sqlite")

    @property
    def serving_dir(self) -> str:
        return os.path.join(self.root, "serving", self.knobs.get("pipeline_name", "asmg"))

    @property
    def protocol(self):
        from asmg_tf.data.periods import Protocol

        return Protocol(**self.knobs["protocol"])

    def spans(self) -> list[int]:
        return [t for t in spans_mod.list_spans(self.knobs["spans_root"]) if t >= self.knobs.get("first_span", 1)]

    def pipeline(self, span: int):
        from pipeline.factory import create_pipeline

        return create_pipeline(
            pipeline_root=os.path.join(self.root, "tfx"),
            serving_dir=self.serving_dir,
            metadata_path=self.metadata_path,
            span=span,
            resolution="span",
            **self.knobs,
        )

    def run(self, span: int) -> float:
        """Run span ``span`` (a finished span is a full cache hit); returns the wall seconds."""
        from tfx.orchestration.local.local_dag_runner import LocalDagRunner

        if span not in self.spans():
            raise ValueError(f"no span-{span} folder under {self.knobs['spans_root']} (have {self.spans()})")
        start = time.perf_counter()
        LocalDagRunner().run(self.pipeline(span))
        seconds = time.perf_counter() - start
        with open(os.path.join(self.root, RUNS_LOG), "a") as f:  # one line per run, for timing reports
            f.write(json.dumps({"span": span, "seconds": seconds, "finished_at": time.time()}) + "\n")
        return seconds

    def finished(self) -> set[int]:
        from pipeline.metadata import finished_spans

        return finished_spans(self.metadata_path, self.protocol.update_start)

    def backfill(self, first: int | None = None, last: int | None = None, *, progress: bool = True) -> dict:
        """Run spans ``first..last`` in order, skipping finished ones (so a killed backfill resumes where it
        stopped). Returns ``{"ran": {span: seconds}, "skipped": [...], "seconds": total}``."""
        from tqdm.auto import tqdm

        todo = [t for t in self.spans() if (first is None or t >= first) and (last is None or t <= last)]
        if not todo:
            raise ValueError(f"no spans in {first}..{last}; the spans folder has {self.spans()}")
        done = self.finished()
        skipped = [t for t in todo if t in done]
        ran: dict[int, float] = {}
        start = time.perf_counter()
        terminal = sys.stderr.isatty()
        bar = tqdm(
            total=len(todo),
            initial=len(skipped),
            desc="pipeline",
            unit="span",
            disable=not (progress and terminal),  # a log file gets one line per span (below), not bar frames
            file=sys.stderr,
        )
        try:
            for t in todo:
                if t in done:
                    continue
                bar.set_postfix(span=t)
                ran[t] = self.run(t)
                bar.update(1)
                if progress and not terminal:
                    print(
                        f"pipeline: span {t} done in {ran[t]:.1f} s ({len(skipped) + len(ran)}/{len(todo)})",
                        file=sys.stderr,
                        flush=True,
                    )
        finally:
            bar.close()
        return {"ran": ran, "skipped": skipped, "seconds": time.perf_counter() - start}
