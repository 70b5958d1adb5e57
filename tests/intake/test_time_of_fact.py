"""A case concluded by an event processed late (after an outage) concludes
on the day of the fact, and its application_completed carries the time of
the fact, in the centre's zone."""
from .conftest import application


def test_a_late_processed_conclusion_keeps_the_day_and_time_of_the_fact(intake, rpc, outbox, publish, wait):
    no = rpc.intake.submit(application("ENT-EST"))["application_no"]
    # decided five minutes before midnight in Shanghai: 15:55 UTC, the same day there
    publish("review", "review_completed", {"application_no": no, "outcome": "rejected", "rejections": [],
                                           "completed_at": "2026-03-02T15:55:00+00:00"})
    wait(lambda: outbox(no, "application_completed"), message="the conclusion")
    [completed] = outbox(no, "application_completed")
    assert completed["concluded_on"] == "2026-03-02"
    assert completed["occurred_at"] == "2026-03-02T23:55:00+08:00"
    assert rpc.intake.get(no)["concluded_on"] == "2026-03-02"
