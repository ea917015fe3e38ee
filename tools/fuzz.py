"""Long fuzz runs (hypothesis) over the readers and the model server; the quick suite runs the same properties with
few examples (``tests/test_fuzz_readers.py``, ``tests/test_fuzz_server.py``).

    python tools/fuzz.py --target readers --examples 3000 --seed 1
    python tools/fuzz.py --target server --examples 3000 --seed 1

Unlike a test, a run does not stop at the first failure: every input runs, each failure is keyed by (target,
exception type, where it was raised) and the run prints inputs tried per target and the distinct failures with one
example each, as JSON (``--out`` to also write it). Exit code 1 when anything failed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


class Tally:
    """Inputs tried and distinct failures per target."""

    def __init__(self):
        self.tried: dict[str, int] = {}
        self.failures: dict[str, dict] = {}

    def run(self, target: str, check, *args, example=None) -> None:
        self.tried[target] = self.tried.get(target, 0) + 1
        try:
            check(*args)
        except Exception as e:  # noqa: BLE001  (a fuzz run records every failure)
            frame = traceback.extract_tb(e.__traceback__)[-1]
            key = f"{target}: {type(e).__name__} at {os.path.relpath(frame.filename, REPO)}:{frame.lineno}"
            if key not in self.failures:
                self.failures[key] = {"count": 0, "message": str(e)[:300], "example": repr(example or args)[:300]}
            self.failures[key]["count"] += 1


def fuzz_readers(tally: Tally, examples: int, seed: int) -> None:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import seed as hseed
    from hypothesis import strategies as st

    from tests import fuzz_props as P

    def runner(fmt: str):
        @hseed(seed)
        @settings(max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        @given(st.data())
        def one(data):
            if data.draw(st.booleans()):
                text, rows = data.draw(P.structured_file(fmt))
                tally.run(f"reader {fmt} (structured)", P.check_reader, fmt, text, rows, example=text)
            else:
                raw = data.draw(P.mutated_bytes(fmt))
                tally.run(f"reader {fmt} (bytes)", P.check_reader, fmt, raw, example=raw)

        return one

    for fmt in P.FORMATS:
        runner(fmt)()


def fuzz_server(tally: Tally, examples: int, seed: int) -> None:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import seed as hseed

    from tests import fuzz_server_props as S

    def runner(server, name: str, strategy, check):
        @hseed(seed)
        @settings(max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        @given(strategy)
        def one(request):
            tally.run(name, check, server, request, example=request)

        return one

    with S.running_server() as server:
        for name, strategy, check in S.TARGETS:
            runner(server, name, strategy, check)()
        tally.run("server health after the run", S.check_healthy, server)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--target", choices=("readers", "server", "all"), default="all")
    p.add_argument("--examples", type=int, default=2000, help="hypothesis examples per target")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="also write the report as JSON here")
    a = p.parse_args(argv)
    tally, start = Tally(), time.perf_counter()
    if a.target in ("readers", "all"):
        fuzz_readers(tally, a.examples, a.seed)
    if a.target in ("server", "all"):
        fuzz_server(tally, a.examples, a.seed)
    report = {
        "seed": a.seed,
        "examples_per_target": a.examples,
        "seconds": round(time.perf_counter() - start, 1),
        "inputs_tried": tally.tried,
        "distinct_failures": len(tally.failures),
        "failures": tally.failures,
    }
    text = json.dumps(report, indent=1)
    print(text)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text)
    return 1 if tally.failures else 0


if __name__ == "__main__":
    sys.exit(main())
