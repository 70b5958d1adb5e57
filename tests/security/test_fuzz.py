"""Property-based fuzzing of every contract RPC method against the four real
services (reduced size; `make fuzz` runs the full 10,000 payloads)."""
import json

from scripts import fuzz

EXAMPLES = 1000


def test_hostile_payloads_get_only_contract_errors_and_store_nothing(platform_env, four_services):
    # 30 s: a whole supervision pass over every open task the suite has made
    # so far may take seconds; what the timeout is for is a call held for minutes
    with platform_env["sandbox"].router(timeout=30) as rpc:
        fuzzer = fuzz.Fuzzer(rpc, platform_env["databases"], platform_env["amqp_uri"], log=print,
                             settle_timeout=20)
        figures = fuzzer.run(EXAMPLES, seed=8, rejection_share=0.15)
    print(json.dumps({k: figures[k] for k in ("payloads", "seconds", "outcomes", "rejection_check")},
                     ensure_ascii=False))
    assert set(figures["payloads_per_method"]) == set(fuzz.METHODS)
    assert figures["payloads"] >= EXAMPLES * 0.9
    assert figures["rejection_check"]["rejected"] > 100
    problems = figures["internal_errors"] + figures["stored_by_rejected_calls"]
    assert not problems, "internal errors or rows left by rejected calls:\n" + "\n".join(
        json.dumps(p, ensure_ascii=False, default=str)[:1500] for p in problems)
