"""The blessing rule (``pipeline.blessing``): push the generated model only where the scored spans support it."""

import pytest

from pipeline.blessing import GateConfig, comparison, decide


def _c(gen_auc: float, iu_auc: float, gen_ll: float = 0.5, iu_ll: float = 0.5) -> dict:
    return {"generated": {"auc": gen_auc, "logloss": gen_ll}, "iu": {"auc": iu_auc, "logloss": iu_ll}}


def test_a_span_where_the_generated_model_lost_pushes_iu():
    d = decide({"7": _c(0.70, 0.72)}, 7, GateConfig(), warmed_up=True)
    assert d["blessed"] is False and d["difference"] == pytest.approx(-0.02)
    assert d["spans"] == [7] and "worse than IU" in d["reason"]


def test_a_span_where_the_generated_model_won_or_tied_pushes_it():
    assert decide({7: _c(0.73, 0.72)}, 7, GateConfig(), warmed_up=True)["blessed"] is True
    assert decide({7: _c(0.72, 0.72)}, 7, GateConfig(), warmed_up=True)["blessed"] is True  # a tie is not worse
    # within the threshold: a small loss still counts as a tie
    d = decide({7: _c(0.7195, 0.72)}, 7, GateConfig(threshold=0.001), warmed_up=True)
    assert d["blessed"] is True and "within the threshold" in d["reason"]
    assert decide({7: _c(0.7185, 0.72)}, 7, GateConfig(threshold=0.001), warmed_up=True)["blessed"] is False


def test_the_window_averages_the_last_m_scored_spans():
    comparisons = {5: _c(0.60, 0.70), 6: _c(0.74, 0.72), 7: _c(0.73, 0.72)}
    assert decide(comparisons, 7, GateConfig(window=2), warmed_up=True)["blessed"] is True  # +0.02, +0.01
    d = decide(comparisons, 7, GateConfig(window=3), warmed_up=True)  # (-0.10 + 0.02 + 0.01) / 3
    assert d["blessed"] is False and d["spans"] == [5, 6, 7]
    assert d["generated"]["auc"] == pytest.approx((0.60 + 0.74 + 0.73) / 3)


def test_the_decision_never_reads_a_span_not_yet_scored():
    past = {5: _c(0.70, 0.72), 6: _c(0.69, 0.72)}
    before = decide(past, 6, GateConfig(window=3), warmed_up=True)
    # span 7's comparison (a big win) exists in the record later: the decision for span 6 must not change
    after = decide({**past, 7: _c(0.99, 0.50)}, 6, GateConfig(window=3), warmed_up=True)
    assert before == after and after["spans"] == [5, 6] and after["blessed"] is False


def test_no_evidence_or_warm_up_pushes_iu():
    d = decide({}, 4, GateConfig(), warmed_up=True)
    assert d["blessed"] is False and d["difference"] is None and "no evidence" in d["reason"]
    d = decide({4: _c(0.9, 0.5)}, 4, GateConfig(), warmed_up=False)
    assert d["blessed"] is False and d["reason"].startswith("warm-up") and d["difference"] == pytest.approx(0.4)


def test_logloss_metric_prefers_the_lower_loss():
    better = _c(0.70, 0.72, gen_ll=0.40, iu_ll=0.45)
    d = decide({3: better}, 3, GateConfig(metric="logloss"), warmed_up=True)
    assert d["blessed"] is True and d["difference"] == pytest.approx(0.05)


def test_comparison_needs_both_models_scored():
    assert comparison({"generated": None, "iu": {"auc": 0.7, "logloss": 0.5}}) is None
    assert comparison({"iu": {"auc": 0.7, "logloss": 0.5}}) is None
    assert comparison({"generated": {"auc": 0.7, "logloss": 0.5}, "iu": {"auc": 0.6, "logloss": 0.6}}) == {
        "generated": {"auc": 0.7, "logloss": 0.5},
        "iu": {"auc": 0.6, "logloss": 0.6},
    }


@pytest.mark.parametrize(
    "kwargs, message",
    [({"window": 0}, "window"), ({"threshold": -0.1}, "threshold"), ({"threshold": float("nan")}, "threshold"),
     ({"metric": "ndcg"}, "metric")],
)  # fmt: skip
def test_bad_settings_say_what_is_wrong(kwargs, message):
    with pytest.raises(ValueError, match=message):
        GateConfig(**kwargs)
