"""Every line a request causes names its call and its case, as JSON."""
import io
import json
import logging
from types import SimpleNamespace

import eventlet

from onewindow import logs


class FakeService:
    def track(self, application_no, phone):
        pass

    def on_event(self, event):
        pass


def worker(method, *args, **kwargs):
    entrypoint = SimpleNamespace(container=SimpleNamespace(service_cls=FakeService), method_name=method)
    return SimpleNamespace(entrypoint=entrypoint, args=args, kwargs=kwargs, call_id=f"intake.{method}.c-1")


def lines_of(run):
    stream = io.StringIO()
    handler = logs.configure("intake", stream)
    try:
        eventlet.spawn(run).wait()  # a worker runs in its own greenlet
    finally:
        logging.getLogger().removeHandler(handler)
    # only the test's own loggers: services an earlier test left stopping may still log
    return [line for line in map(json.loads, stream.getvalue().splitlines())
            if line["logger"] in ("x", "services.intake.cases", "onewindow.db")]


def test_an_rpc_call_names_its_call_id_and_case_on_every_line():
    def run():
        logs.enter(worker("track", "ZW2026000007", phone="13800138000"))
        logging.getLogger("services.intake.cases").warning("looked up %s", "the case")
        logging.getLogger("onewindow.db").error("and again")

    first, second = lines_of(run)
    assert first["call_id"] == second["call_id"] == "intake.track.c-1"
    assert first["application_no"] == second["application_no"] == "ZW2026000007"
    assert (first["service"], first["level"], first["message"]) == ("intake", "WARNING", "looked up the case")


def test_an_event_names_the_case_it_carries_and_a_use_case_can_name_it_later():
    def run():
        logs.enter(worker("on_event", {"event_id": "e-1", "application_no": "ZW2026000008"}))
        logging.getLogger("x").warning("from the event")
        logs.enter(worker("track"))
        logging.getLogger("x").warning("not yet known")
        logs.bind(application_no="ZW2026000009")
        logging.getLogger("x").warning("numbered")

    event, unknown, numbered = lines_of(run)
    assert event["application_no"] == "ZW2026000008" and unknown["application_no"] is None
    assert numbered["application_no"] == "ZW2026000009"


def test_lines_outside_a_worker_carry_no_call():
    def run():
        logging.getLogger("x").warning("relay pass")

    [line] = lines_of(run)
    assert line["call_id"] is None and line["application_no"] is None
