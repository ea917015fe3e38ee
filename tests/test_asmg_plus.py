"""asmg_plus (beyond the paper): residual generator, IU fallback, options, resume, and the warm-up-only selection."""

import importlib.util
import json
import os

import numpy as np
import pytest

import asmg_tf  # noqa: F401
from asmg_tf.bench.runner import run_method
from asmg_tf.models import get_weights
from asmg_tf.updaters import METHODS, Context, make_method
from asmg_tf.updaters.asmg_plus import GENERATED, ASMGPlus, PlusConfig, score
from tests.test_asmg_updater import CONFIG, tiny_periods

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def ctx(tmp_path_factory):
    root = tmp_path_factory.mktemp("plus")
    periods = tiny_periods()
    c = Context(periods, CONFIG, str(root / "ctx"), log=lambda m: None)
    c.run_iu_chain(periods.protocol.test_end)
    return c


def _metrics(auc, logloss):
    return {"auc": auc, "logloss": logloss}


def test_score_is_higher_for_the_better_model():
    g, iu = _metrics(0.80, 0.40), _metrics(0.78, 0.45)
    assert score(g, "auc") - score(iu, "auc") == pytest.approx(0.02)
    assert score(g, "logloss") - score(iu, "logloss") == pytest.approx(0.05)  # lower LogLoss scores higher


@pytest.mark.parametrize(
    "fallback,window,history,expected",
    [
        ("auc", 1, {}, True),  # nothing scored yet: serve the generator
        ("auc", 1, {9: (0.80, 0.78)}, True),
        ("auc", 1, {9: (0.70, 0.78)}, False),
        ("auc", 1, {8: (0.70, 0.78), 9: (0.80, 0.78)}, True),  # only the newest counts
        ("auc", 2, {8: (0.70, 0.78), 9: (0.80, 0.78)}, False),  # mean advantage -0.03
        ("auc", 2, {7: (0.10, 0.90), 9: (0.80, 0.78)}, True),  # 7 is outside the window of 2
        ("none", 1, {9: (0.10, 0.90)}, True),
    ],
)
def test_fallback_rule_uses_the_mean_advantage_over_the_last_m_scored_periods(fallback, window, history, expected):
    method = ASMGPlus(None, fallback=fallback, fallback_window=window)
    method.comparisons = {
        str(j): {"generated": _metrics(g, 0.5), "iu": _metrics(u, 0.5)} for j, (g, u) in history.items()
    }
    assert (method.choice(10) == GENERATED) is expected


def test_the_rule_serves_the_best_candidate_including_extrapolation_steps():
    method = ASMGPlus(None, extrapolation_steps=[1, 2], fallback_window=2)
    assert method.candidates() == ["generated", "generated+1", "generated+2", "iu"]
    aucs = {8: [0.70, 0.74, 0.73, 0.71], 9: [0.70, 0.72, 0.75, 0.71]}  # means: .70 .73 .74 .71
    method.comparisons = {
        str(j): {c: _metrics(a, 0.5) for c, a in zip(method.candidates(), v)} for j, v in aucs.items()
    }
    assert method.choice(10) == "generated+2"
    method.comparisons["9"]["iu"] = _metrics(0.99, 0.5)
    assert method.choice(10) == "iu"
    method.comparisons["9"]["iu"] = _metrics(0.77, 0.5)  # iu mean .74 ties generated+2: the earlier wins
    assert method.choice(10) == "generated+2"


def test_config_is_validated_and_the_paper_variants_reject_plus_options(ctx):
    assert "asmg_plus" in METHODS
    default = PlusConfig()
    assert default.residual and default.fallback == "auc" and default.normalize and default.lr == 0.03
    with pytest.raises(ValueError, match="fallback must be"):
        make_method("asmg_plus", ctx, fallback="sometimes")
    with pytest.raises(ValueError, match="fallback_window"):
        make_method("asmg_plus", ctx, fallback_window=0)
    with pytest.raises(ValueError, match="epochs"):
        make_method("asmg_plus", ctx, epochs=0)
    with pytest.raises(ValueError, match="unknown option"):
        make_method("asmg_gru_multi", ctx, fallback="auc")
    with pytest.raises(ValueError, match="unknown option"):
        make_method("asmg_plus", ctx, generator="linear")
    with pytest.raises(ValueError, match="set fallback to auc"):
        make_method("asmg_plus", ctx, fallback="none", extrapolation_steps=[1])
    with pytest.raises(ValueError, match="always a candidate"):
        make_method("asmg_plus", ctx, extrapolation_steps=[0, 1])
    with pytest.raises(ValueError, match="extrapolate needs residual"):
        make_method("asmg_plus", ctx, residual=False, extrapolate=True)
    with pytest.raises(ValueError, match="normalize needs residual"):
        make_method("asmg_plus", ctx, residual=False, normalize=True)
    with pytest.raises(ValueError, match="needs k >= 2"):
        make_method("asmg_plus", ctx, normalize=True, k=1)
    with pytest.raises(ValueError, match="set carry_state=false"):
        make_method("asmg_plus", ctx, k="full")
    with pytest.raises(ValueError, match="integer k >= 2"):
        make_method("asmg_plus", ctx, k="full", carry_state=False, extrapolation_steps=[1])


def test_runs_records_comparisons_and_serves_exactly_iu_when_it_falls_back(ctx, tmp_path):
    summary = run_method("asmg_plus", ctx, str(tmp_path), options={"epochs": 2})
    proto = ctx.protocol
    assert [r["iteration"] for r in summary["per_period"]] == list(range(proto.update_start + 2, proto.test_end + 1))
    with open(tmp_path / "methods" / "asmg_plus" / "progress.json") as f:
        extra = json.load(f)["extra_state"]
    # the state is saved between serve(i) and observe(i): the last iteration is served, never observed
    assert sorted(map(int, extra["comparisons"])) == [r["iteration"] for r in summary["per_period"]][:-1]
    assert set(extra["served"].values()) <= {"generated", "iu"}
    # each comparison is a real evaluation of both models on period i + 1
    for i, c in extra["comparisons"].items():
        iu_metrics = ctx.evaluate(ctx.iu_model(int(i)), int(i) + 1)
        assert c["iu"]["auc"] == pytest.approx(iu_metrics["auc"], abs=1e-6)
        if extra["served"][i] == "iu":
            row = next(r for r in summary["per_period"] if r["iteration"] == int(i))
            assert row["auc"] == pytest.approx(iu_metrics["auc"], abs=1e-6)

    method = make_method("asmg_plus", ctx, fallback="auc")
    method.start()
    i = proto.test_end
    method.comparisons = {str(i - 1): {"generated": _metrics(0.1, 9.0), "iu": _metrics(0.9, 0.1)}}
    served = method.serve(i)
    assert method.served[str(i)] == "iu"
    for key, value in get_weights(served).items():
        np.testing.assert_array_equal(value, ctx.iu_weights(i)[key])


@pytest.mark.parametrize("normalize", [False, True])
def test_fallback_off_and_untrained_residual_generator_serve_the_newest_iu_model(ctx, normalize):
    method = make_method("asmg_plus", ctx, fallback="none", normalize=normalize)
    method.start()
    i = ctx.protocol.test_end
    served = method.serve(i)
    for key, value in get_weights(served).items():
        np.testing.assert_array_equal(value, ctx.iu_weights(i)[key])
    method.observe(i)  # one meta-epoch moves the generator away from the identity
    assert any(not np.array_equal(v, ctx.iu_weights(i)[k]) for k, v in get_weights(method.serve(i)).items()), (
        "meta-training did not change the generated model"
    )


def test_resume_restores_the_fallback_record(ctx, tmp_path):
    proto = ctx.protocol
    run_method("asmg_plus", ctx, str(tmp_path), until=proto.test_end - 1)
    full = run_method("asmg_plus", ctx, str(tmp_path))  # resumes for the last iteration
    fresh = run_method("asmg_plus", ctx, str(tmp_path / "fresh"))
    assert [r["auc"] for r in full["per_period"]] == pytest.approx([r["auc"] for r in fresh["per_period"]], abs=1e-5)
    with open(tmp_path / "methods" / "asmg_plus" / "progress.json") as f:
        resumed = json.load(f)["extra_state"]
    with open(tmp_path / "fresh" / "methods" / "asmg_plus" / "progress.json") as f:
        uninterrupted = json.load(f)["extra_state"]
    assert resumed["served"] == uninterrupted["served"]
    assert sorted(resumed["comparisons"]) == sorted(uninterrupted["comparisons"])


def test_extrapolation_candidates_step_along_the_newest_iu_update_and_resume(ctx, tmp_path):
    proto = ctx.protocol
    options = {"extrapolation_steps": [2], "extrapolate": True}
    run_method("asmg_plus", ctx, str(tmp_path), options=options, until=proto.test_start)
    summary = run_method("asmg_plus", ctx, str(tmp_path), options=options)  # resumes: the saved config matches
    assert summary["per_period"][-1]["iteration"] == proto.test_end
    method = make_method("asmg_plus", ctx, **options)
    method.start()
    i = proto.test_end
    generated = get_weights(method.serve(i))
    stepped = get_weights(method._candidate(i, "generated+2"))
    new, old = ctx.iu_weights(i), ctx.iu_weights(i - 1)
    for key in generated:
        np.testing.assert_allclose(stepped[key], generated[key] + 2 * (new[key] - old[key]), rtol=1e-6, atol=1e-7)
    method.observe(i)
    assert sorted(method.comparisons[str(i)]) == sorted(["generated", "generated+2", "iu"])


def test_resume_with_other_options_fails_clearly(ctx, tmp_path):
    run_method("asmg_plus", ctx, str(tmp_path), until=ctx.protocol.test_start)
    with pytest.raises(ValueError, match="resume with the same options"):
        run_method("asmg_plus", ctx, str(tmp_path), options={"fallback": "logloss"})


def _benchmark(name: str):
    """The script ``benchmarks/<name>.py`` as a module."""
    spec = importlib.util.spec_from_file_location(name, os.path.join(REPO, "benchmarks", f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _selection_module():
    return _benchmark("select_asmg_plus")


def test_selection_ranks_on_the_given_warmup_iterations_only():
    select = _selection_module().select
    rows = {
        "a": [{"iteration": i, "auc": 0.7, "logloss": 0.5} for i in range(13, 24)]
        + [{"iteration": 24, "auc": 0.99, "logloss": 0.1}],  # a test iteration: must not count
        "b": [{"iteration": i, "auc": 0.71, "logloss": 0.6} for i in range(13, 24)],
        "c": [{"iteration": i, "auc": 0.71, "logloss": 0.4} for i in range(13, 24)],
    }
    ranking = select(rows, list(range(13, 24)))
    assert [t for t, _, _ in ranking] == ["b", "c", "a"]  # ties keep the input order
    assert ranking[0][1] == pytest.approx(0.71)
    with pytest.raises(ValueError, match="no result for warm-up"):
        select({"a": rows["a"][:5]}, list(range(13, 24)))


def test_selection_candidates_are_valid_asmg_plus_settings(ctx):
    for _tag, method, options in _selection_module().CANDIDATES:
        make_method(method, ctx, **options)  # raises on an unknown or invalid option


def test_selected_methods_plot_shows_only_those_methods(tmp_path, monkeypatch):
    import matplotlib.axes

    from asmg_tf.bench.report import plot_results

    labels = []
    original = matplotlib.axes.Axes.plot
    monkeypatch.setattr(
        matplotlib.axes.Axes, "plot", lambda self, *a, **k: labels.append(k.get("label")) or original(self, *a, **k)
    )
    rows = [{"iteration": i, "auc": 0.7, "logloss": 0.5} for i in range(4, 8)]
    results = {"dataset": "tiny", "test_iterations": [6, 7], "methods": {m: {"per_period": rows} for m in "abc"}}
    path = plot_results(str(tmp_path), results, "selected.png", methods=["a", "c"])
    assert os.path.getsize(path) > 0 and open(path, "rb").read(4) == b"\x89PNG"
    assert labels == ["a", "c", "a", "c"]  # AUC and LogLoss panels


def test_compare_runs_reports_the_gap_to_iu_and_to_the_best_other_method(tmp_path):
    module = _benchmark("compare_runs")
    aucs = {"iu": 0.80, "bu3": 0.81, "asmg_gru_multi": 0.79, "asmg_plus": 0.82}
    results = {"dataset": "d", "methods": {m: {"mean_auc": a} for m, a in aucs.items()}}
    (tmp_path / "results.json").write_text(json.dumps(results))
    for m, seconds in (("asmg_plus", {"13": 1.0, "14": 3.0}), ("asmg_gru_multi", {"13": 4.0})):
        (tmp_path / "methods" / m).mkdir(parents=True)
        (tmp_path / "methods" / m / "progress.json").write_text(json.dumps({"extra_state": {"meta_seconds": seconds}}))
    r = module.row(str(tmp_path), "asmg_plus", "asmg_gru_multi")
    assert r["best_other"] == "bu3" and r["vs_iu_pct"] == pytest.approx(2.5)
    assert r["vs_best_pct"] == pytest.approx(100 * 0.01 / 0.81)
    assert (r["meta_seconds"], r["reference_meta_seconds"]) == (2.0, 4.0)


def test_selection_table_renders_every_candidate_per_dataset():
    module = _benchmark("selection_table")
    first = {
        "dataset": "a",
        "candidates": {"iu": {"auc": 0.80}, "plus": {"auc": 0.82}},
        "options": {"plus": {"method": "asmg_plus", "k": 5}},
        "chosen": "plus",
    }
    second = {"dataset": "b", "candidates": {"iu": {"auc": 0.70}}, "options": {}, "chosen": "iu"}
    lines = module.table([first, second]).splitlines()
    assert lines[0] == "| candidate | settings | a | b |"
    assert lines[3] == "| plus | asmg_plus k=5 | 0.8200 (+2.50%) **chosen** | – |"
    # maximin: the candidate whose worst gain over IU is largest, among those run on every dataset
    first["candidates"]["steady"] = {"auc": 0.81}
    first["options"]["steady"] = {"method": "asmg_plus", "normalize": True}
    second["candidates"].update({"plus": {"auc": 0.69}, "steady": {"auc": 0.705}})
    tag, worst = module.maximin([first, second])
    assert tag == "steady" and worst == pytest.approx(100 * 0.005 / 0.70)  # min(+1.25 %, +0.71 %) beats plus: -1.4 %
    first["options"]["steady"]["k"] = "full"  # unbounded cost per period: not a default
    assert module.maximin([first, second])[0] == "plus"
    assert module.maximin([first, second], bounded=False)[0] == "steady"


def test_a_setting_missing_from_an_older_saved_run_means_it_was_off(ctx, tmp_path):
    run_method("asmg_plus", ctx, str(tmp_path), options={"normalize": False}, until=ctx.protocol.test_start)
    state = tmp_path / "methods" / "asmg_plus" / "state" / "state.json"  # the saved state (progress.json copies it)
    saved = json.loads(state.read_text())
    del saved["extra_state"]["config"]["normalize"]  # as written before the option existed
    state.write_text(json.dumps(saved))
    with pytest.raises(ValueError, match="resume with the same options"):
        run_method("asmg_plus", ctx, str(tmp_path), options={"normalize": True})
    summary = run_method("asmg_plus", ctx, str(tmp_path), options={"normalize": False})
    assert summary["per_period"][-1]["iteration"] == ctx.protocol.test_end


def test_selection_with_replicates_ranks_by_the_mean_and_keeps_the_baseline_unless_significantly_beaten():
    module = _selection_module()

    def rows(auc: float) -> list[dict]:
        return [{"iteration": i, "auc": auc, "logloss": 0.5} for i in range(15, 24)]

    # three seeds: "noisy" has the best mean (0.8133) but its gains over "base" are +0.03, -0.01, +0.01 (interval
    # 0.01 ± 4.303 * 0.02 / sqrt(3), includes 0); "steady" gains +0.005 each seed (sd 0: a significant win)
    per_seed = [
        {"iu": rows(0.79), "base": rows(0.80), "noisy": rows(0.83), "steady": rows(0.805)},
        {"iu": rows(0.78), "base": rows(0.81), "noisy": rows(0.80), "steady": rows(0.815)},
        {"iu": rows(0.80), "base": rows(0.80), "noisy": rows(0.81), "steady": rows(0.805)},
    ]
    scores = module.replicate_scores(per_seed, list(range(15, 24)))
    assert scores["noisy"]["auc"] == pytest.approx(0.8133333) and scores["noisy"]["auc_sd"] == pytest.approx(
        0.0152753, abs=1e-7
    )
    assert scores["base"]["replicate_auc"] == pytest.approx([0.80, 0.81, 0.80])
    tag, why = module.choose(scores, ["noisy", "steady", "base"], "base")
    assert tag == "steady" and "t-interval" in why
    del scores["steady"]
    assert module.choose(scores, ["noisy", "base"], "base")[0] == "base"  # the best mean is noise: keep the default
    one = module.replicate_scores(per_seed[:1], list(range(15, 24)))
    assert module.choose(one, ["noisy", "steady", "base"], "base")[0] == "noisy"  # one seed: the best mean, as before


def test_selection_table_shows_the_spread_over_replicates():
    module = _benchmark("selection_table")
    s = {
        "dataset": "a",
        "candidates": {"iu": {"auc": 0.80, "auc_sd": 0.002}, "plus": {"auc": 0.82, "auc_sd": 0.0015}},
        "options": {"plus": {"method": "asmg_plus"}},
        "chosen": "plus",
    }
    assert module.table([s]).splitlines()[3] == "| plus | asmg_plus | 0.8200 ± 0.0015 (+2.50%) **chosen** |"


def test_the_default_changes_only_for_a_significant_maximin_win():
    """Replicated selections: the maximin challenger must beat the default, paired over seeds, on the default's
    worst dataset, and lose significantly nowhere (hand-computed differences)."""
    module = _benchmark("selection_table")

    def selection(name, iu, default, challenger):
        cands = {"iu": iu, "base": default, "new": challenger}
        return {
            "dataset": name,
            "candidates": {t: {"auc": sum(v) / len(v), "replicate_auc": v} for t, v in cands.items()},
            "options": {"base": {"method": "asmg_plus"}, "new": {"method": "asmg_plus", "epochs": 2}},
            "chosen": "base",
        }

    a = selection("a", [0.80, 0.81, 0.79], [0.82, 0.83, 0.81], [0.825, 0.835, 0.815])  # new +0.005 every seed
    b = selection("b", [0.70, 0.71, 0.69], [0.701, 0.711, 0.691], [0.703, 0.713, 0.693])  # the default's worst: +0.002
    assert module.maximin([a, b])[0] == "new"
    tag, lines = module.keep_or_replace([a, b], "new", "base")
    assert tag == "new" and lines[-1].startswith("new replaces base (default's worst dataset: b, win)")
    b["candidates"]["new"]["replicate_auc"] = [0.705, 0.709, 0.694]  # +0.004, -0.002, +0.003: within the noise
    tag, lines = module.keep_or_replace([a, b], "new", "base")
    assert tag == "base" and "no significant difference" in lines[1]
    assert module.keep_or_replace([a, b], "base", "base")[0] == "base"


def test_replicate_table_merges_a_datasets_runs(tmp_path):
    module = _benchmark("replicate_table")
    diff = {"mean": 0.004, "ci95": [0.001, 0.007], "verdict": "win", "bootstrap_ci95": [-0.002, 0.009]}
    for name, plus in (("default", 0.804), ("selected", 0.806)):
        (tmp_path / name).mkdir()
        results = {
            "dataset": "d",
            "replicates_setup": {"count": 5},
            "methods": {
                "iu": {"mean_auc": 0.80, "auc_sd": 0.001},
                "asmg_plus": {
                    "mean_auc": plus,
                    "auc_sd": 0.002,
                    "diff_vs_iu": diff,
                    "mean_logloss": 0.45,
                    "logloss_sd": 0.003,
                },
            },
        }
        (tmp_path / name / "results.json").write_text(json.dumps(results))
    table = module.rows(str(tmp_path / "default")) + module.rows(str(tmp_path / "selected"), "selected")
    assert [r["method"] for r in table] == ["iu", "asmg_plus", "asmg_plus (selected)"]
    lines = module.markdown(table).splitlines()
    assert lines[2] == "| d | iu | 5 | 0.8000 ± 0.0010 | – | – | – | – |"
    assert lines[4] == (
        "| d | asmg_plus (selected) | 5 | 0.8060 ± 0.0020 | +0.0040 [+0.0010, +0.0070] | win | [-0.0020, +0.0090] "
        "| 0.4500 ± 0.0030 |"
    )
