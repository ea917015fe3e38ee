"""One markdown table over several ``select_asmg_plus.py`` outputs: every candidate's warm-up AUC per dataset.

Rows are the candidates in the order of the first file's ranking; each cell is the mean AUC over that dataset's
warm-up iterations (with ± sd over replicates when the selection ran several) and its gain over IU there; the candidate each selection chose is marked. Below the table: the
candidate whose worst warm-up gain over IU across the datasets is largest (maximin), among candidates with a bounded
cost per period (a fixed window k, not "full", whose work and kept history grow with every period): the rule for the
package default of ``asmg_plus`` (one setting for data nobody has selected on: first, do not make IU worse).

    .venv/bin/python benchmarks/selection_table.py runs/select-or/selection.json runs/select-ml/selection.json ...
"""

from __future__ import annotations

import argparse
import json
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from asmg_tf.bench.report import improvement  # noqa: E402  (no TensorFlow import)


def settings(options: dict, first: dict | None = None) -> str:
    """``{"method": "asmg_plus", "k": 5}`` -> ``asmg_plus k=5``, leaving out values equal to ``first`` (the
    settings every candidate starts from)."""
    first = first or {}
    rest = ", ".join(
        f"{k}={json.dumps(v)}" for k, v in options.items() if k != "method" and not (k in first and first[k] == v)
    )
    return f"{options['method']} {rest}".strip()


def gain(selection: dict, tag: str) -> float:
    """Warm-up AUC gain of candidate ``tag`` over IU in one selection, in percent."""
    return improvement(selection["candidates"][tag]["auc"], selection["candidates"]["iu"]["auc"], True)


def table(selections: list[dict]) -> str:
    """The markdown table (header, separator, one row per candidate)."""
    order = list(selections[0]["candidates"])
    options = {"iu": {"method": "iu"}, **selections[0]["options"]}
    lines = [
        "| candidate | settings | " + " | ".join(s["dataset"] for s in selections) + " |",
        "|---|---|" + "---|" * len(selections),
    ]
    for tag in order:
        cells = []
        for s in selections:
            if tag not in s["candidates"]:
                cells.append("–")
                continue
            auc, sd = s["candidates"][tag]["auc"], s["candidates"][tag].get("auc_sd")
            mark = " **chosen**" if s["chosen"] == tag else ""
            spread = f" ± {sd:.4f}" if sd is not None else ""  # over replicates (select_asmg_plus.py --repeats)
            cells.append(f"{auc:.4f}{spread} ({gain(s, tag):+.2f}%){mark}")
        first = selections[0].get("first_settings") if options[tag]["method"] == "asmg_plus" else None
        lines.append(f"| {tag} | {settings(options[tag], first)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def maximin(selections: list[dict], method: str = "asmg_plus", bounded: bool = True) -> tuple[str, float]:
    """``(tag, worst gain %)``: the ``method`` candidate, run on every dataset, whose smallest warm-up gain over IU
    is largest (ties: the earlier candidate in the first file's order); ``bounded`` leaves out k = "full"."""
    options = selections[0]["options"]
    best: tuple[str, float] | None = None
    for tag in selections[0]["candidates"]:
        if options.get(tag, {}).get("method") != method or any(tag not in s["candidates"] for s in selections):
            continue
        if bounded and options[tag].get("k") == "full":
            continue
        worst = min(gain(s, tag) for s in selections)
        if best is None or worst > best[1]:
            best = (tag, worst)
    if best is None:
        raise ValueError(f"no {method} candidate was run on every dataset")
    return best


def keep_or_replace(selections: list[dict], challenger: str, default: str) -> tuple[str, list[str]]:
    """``(tag, lines)``: with replicated selections, the maximin ``challenger`` replaces the package ``default``
    only when it beats it significantly (paired over seeds, 95 % t-interval above 0) on the dataset where the
    default's warm-up gain over IU is smallest, and loses significantly on none: a maximin won within the seed
    noise does not change the default. ``lines``: the paired difference on every dataset."""
    from asmg_tf.bench import stats

    if challenger == default:
        return default, [f"the maximin is the default ({default}): kept"]
    if any(len(s["candidates"][default].get("replicate_auc", [])) < 2 for s in selections):
        return challenger, ["single-run selections: the maximin by means"]
    worst = min(selections, key=lambda s: gain(s, default))
    lines, verdicts = [], {}
    for s in selections:
        d = stats.paired_difference(
            s["candidates"][challenger]["replicate_auc"], s["candidates"][default]["replicate_auc"]
        )
        verdicts[s["dataset"]] = d["verdict"]
        low, high = d["ci95"]
        lines.append(
            f"{s['dataset']}: {challenger} - {default} = {d['mean']:+.4f} [{low:+.4f}, {high:+.4f}] {d['verdict']}"
        )
    replace = verdicts[worst["dataset"]] == "win" and "loss" not in verdicts.values()
    lines.append(
        f"{challenger} {'replaces' if replace else 'does not replace'} {default} (default's worst dataset: "
        f"{worst['dataset']}, {verdicts[worst['dataset']]})"
    )
    return (challenger if replace else default), lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("selections", nargs="+", help="selection.json files, one per dataset")
    p.add_argument("--default", default="plus_normalize_lr0.03", help="the package default's candidate")
    args = p.parse_args(argv)
    selections = []
    for path in args.selections:
        with open(path) as f:
            selections.append(json.load(f))
    print(table(selections))
    tag, worst = maximin(selections)
    print(f"\nmaximin (largest worst-case warm-up gain over IU, fixed k): {tag} ({worst:+.2f}%)")
    if all(args.default in s["candidates"] for s in selections):
        chosen, lines = keep_or_replace(selections, tag, args.default)
        print("\n".join(lines) + f"\npackage default: {chosen}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
