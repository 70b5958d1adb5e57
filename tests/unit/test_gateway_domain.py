"""The gateway's pure rules: tokens, error answers, webhook signatures and retries."""
from services.gateway import domain


def test_bearer_tokens_and_request_ids():
    assert domain.bearer_token("Bearer owt_abc") == "owt_abc"
    assert domain.bearer_token("bearer  owt_abc ") == "owt_abc"
    assert domain.bearer_token("Basic dXNlcg==") is None
    assert domain.bearer_token("Bearer ") is None and domain.bearer_token(None) is None
    assert domain.request_id("req-42") == "req-42"
    assert len(domain.request_id("bad id with spaces")) == 32
    assert domain.token_hash("t") != "t" and len(domain.token_hash("t")) == 64
    assert domain.new_token() != domain.new_token()


def test_errors_map_to_the_stable_statuses_of_the_wire():
    status, body = domain.error_answer("ValidationFailed", '{"phone": ["not a mobile number"]}')
    assert status == 400 and body["error"]["problems"] == {"phone": ["not a mobile number"]}
    assert body["error"]["code"] == "validation_failed"
    assert domain.error_answer("Forbidden", "not yours")[0] == 403
    assert domain.error_answer("NotFound", "no such case")[0] == 404
    assert domain.error_answer("Conflict", "already paid")[0] == 409
    assert domain.error_answer("MethodNotFound", "nope")[1]["error"]["code"] == "method_not_found"
    assert domain.error_answer("IncorrectSignature", "x")[0] == 400
    assert domain.error_answer("KeyError", "boom") == (500, domain.gateway_error("KeyError", "internal", "boom"))
    assert domain.error_answer("ValidationFailed", "not json")[1]["error"]["problems"] == {"_schema": ["not json"]}


def test_signatures_bound_replays_and_retries_double():
    body = b'{"x": 1}'
    header = domain.sign("s" * 20, 1_700_000_000, body)
    assert domain.verify("s" * 20, header, body, now=1_700_000_100)
    assert not domain.verify("s" * 20, header, body, now=1_700_001_000)  # too old: a replay
    assert not domain.verify("s" * 20, header, body + b" ", now=1_700_000_000)
    assert not domain.verify("s" * 20, "garbage", body, now=1_700_000_000)
    assert [domain.retry_delay(n, 2.0) for n in (1, 2, 3)] == [2.0, 4.0, 8.0]
    assert domain.after_failure(3, 3, 2.0) == ("dead", None)
    assert domain.after_failure(1, 3, 2.0) == ("pending", 2.0)
    assert domain.webhook_department("task_opened", {"department": "PSB"}) == "PSB"
    assert domain.webhook_department("bill_paid", {"department": "PSB"}) is None
