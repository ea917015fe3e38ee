"""Property tests of ``asmg serve`` (hypothesis, few examples; ``tools/fuzz.py --target server`` runs thousands):
random REST and gRPC Predict/Classify/Regress requests each get a TF Serving status and message (never INTERNAL or
HTTP 500), and the server still serves afterwards with bounded memory. Below them, one regression test per finding."""

import http.client
import json

import pytest
from hypothesis import HealthCheck, given, settings

from tests import fuzz_server_props as S

QUICK = settings(max_examples=30, deadline=None, database=None, suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module")
def served():
    with S.running_server() as served:
        yield served
    # (the server stops here; health is checked by the last test)


@QUICK
@given(request=S.rest_requests)
def test_rest_requests_get_a_status_and_an_error_message(served, request):
    S.check_rest(served, request)


@QUICK
@given(drawn=S.grpc_predicts)
def test_grpc_predict_requests_get_a_tf_serving_status(served, drawn):
    S.check_predict(served, drawn)


@pytest.mark.parametrize("check", [S.check_classify, S.check_regress], ids=["classify", "regress"])
@QUICK
@given(drawn=S.grpc_examples)
def test_grpc_classify_and_regress_requests_get_a_tf_serving_status(served, check, drawn):
    check(served, drawn)


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH", "OPTIONS"])
def test_finding_other_methods_get_json_not_an_html_501(served, method):
    """Found by fuzzing: http.server answered methods other than GET/POST with an HTML 501 page."""
    conn = http.client.HTTPConnection("127.0.0.1", served.server.rest_port, timeout=30)
    conn.request(method, "/v1/models/asmg", body=b'{"x": 1}')
    response = conn.getresponse()
    payload = json.loads(response.read())
    assert response.status == 404 and payload["error"].startswith(f"Malformed request: {method}")
    # the body was read: the same kept-alive connection answers the next request
    conn.request("GET", "/v1/models/asmg")
    response = conn.getresponse()
    assert response.status == 200 and json.loads(response.read())["model_version_status"][0]["state"] == "AVAILABLE"
    conn.request("HEAD", "/v1/models/asmg")
    response = conn.getresponse()
    assert response.status == 200 and response.read() == b""
    conn.close()


def test_paths_outside_the_model_base_path_are_not_found(served):
    for path in ["/v1/models/../../etc/passwd", "/v1/models/%2e%2e/versions/1", "/v1/models/asmg/versions/..%2f1"]:
        conn = http.client.HTTPConnection("127.0.0.1", served.server.rest_port, timeout=30)
        conn.request("GET", path)
        response = conn.getresponse()
        assert response.status == 404, path
        assert "error" in json.loads(response.read())
        conn.close()


def test_zz_the_server_is_healthy_after_the_fuzzing(served):
    S.check_healthy(served)


@pytest.mark.parametrize("depth", [100_000, 900])
def test_finding_deeply_nested_json_is_invalid_argument_not_http_500(served, depth):
    """Found by fuzzing: a body of 100,000 '[' raised RecursionError in the JSON parser and answered HTTP 500."""
    conn = http.client.HTTPConnection("127.0.0.1", served.server.rest_port, timeout=30)
    body = '{"instances": ' + "[" * depth + "1" + "]" * depth + "}"
    conn.request("POST", "/v1/models/asmg:predict", body=body.encode())
    response = conn.getresponse()
    payload = json.loads(response.read())
    conn.close()
    assert response.status == 400 and ("deep" in payload["error"] or "rectangular" in payload["error"]), payload


def test_finding_a_body_json_takes_for_utf32_is_invalid_argument_not_http_500(served):
    """Found by fuzzing: 13 zero bytes, which ``json.loads`` detects as UTF-32 and fails to decode
    (UnicodeDecodeError), answered HTTP 500."""
    conn = http.client.HTTPConnection("127.0.0.1", served.server.rest_port, timeout=30)
    conn.request("POST", "/v1/models/asmg:predict", body=b"\x00" * 13)
    response = conn.getresponse()
    payload = json.loads(response.read())
    conn.close()
    assert response.status == 400 and payload["error"].startswith("JSON Parse error"), payload
