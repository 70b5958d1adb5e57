"""The big screen at /hall and the remote-ticket form, over HTTP: complete
without JavaScript, no inline script or style, the department lights read
from review."""
import re

import requests
from nameko.rpc import rpc as nameko_rpc


class FakeReview:
    """review as the screen sees it: MR has one overdue and two warned open
    tasks, NTAX none."""
    name = "review"

    @nameko_rpc
    def tasks(self, department, status=None):
        levels = {"MR": ["red", "yellow", "yellow", "none"], "NTAX": ["none"]}[department]
        return [{"task_id": i, "department": department, "status": status, "warning_level": level}
                for i, level in enumerate(levels)]


def test_the_screen_shows_windows_queues_and_lights_and_forbids_inline_script(hall, run_services, wait):
    hall.take("A")
    called = hall.call("3")
    run_services(FakeReview)
    board = wait(lambda: (lambda b: b if b["departments"][0]["known"] else None)(
        requests.get(f"{hall.base}/hall/board.json", timeout=5).json()), message="the lights from review")
    lights = {d["code"]: (d["red"], d["yellow"]) for d in board["departments"]}
    assert lights == {"MR": (1, 2), "NTAX": (0, 0)}
    assert {w["code"]: w["now_serving"] for w in board["windows"]}["3"] == called["ticket_no"]
    page = requests.get(f"{hall.base}/hall", timeout=5)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert not re.search(r"<script(?![^>]*\bsrc=)", page.text), "no inline script"
    assert "style=" not in page.text and "<style" not in page.text
    assert '<noscript><meta http-equiv="refresh"' in page.text
    assert f'data-window="3"' in page.text and called["ticket_no"] in page.text
    assert 'class="light red"' in page.text
    for name in ("hall.js", "hall.css"):
        assert requests.get(f"{hall.base}/hall/static/{name}", timeout=5).status_code == 200
    assert requests.get(f"{hall.base}/hall/static/..%2Fservice.py", timeout=5).status_code == 404


def test_the_web_form_takes_a_remote_ticket_once_and_lists_every_problem(hall):
    form = requests.get(f"{hall.base}/hall/ticket", timeout=5)
    client_ref = re.search(r'name="client_ref" value="([0-9a-f]+)"', form.text).group(1)
    data = {"queue_code": "B", "phone": "13800000077", "client_ref": client_ref}
    taken = requests.post(f"{hall.base}/hall/ticket", data=data, timeout=5)
    assert taken.status_code == 201 and '<strong id="ticket-no">B001</strong>' in taken.text
    again = requests.post(f"{hall.base}/hall/ticket", data=data, timeout=5)  # a double submit
    assert '<strong id="ticket-no">B001</strong>' in again.text
    assert hall.rpc.ticket("B001")["channel"] == "remote"
    assert [e["phone"] for e in hall.events("ticket_taken")] == ["13800000077"]
    bad = requests.post(f"{hall.base}/hall/ticket", data={"queue_code": "Q", "phone": "12"}, timeout=5)
    assert bad.status_code == 400
    assert "queue_code" in bad.text and "phone" in bad.text and "client_ref" in bad.text
    # a refused form leaves its client_ref free: corrected, the same page takes its ticket
    fixed = {"queue_code": "B", "phone": "12", "client_ref": client_ref + "2"}
    assert requests.post(f"{hall.base}/hall/ticket", data=fixed, timeout=5).status_code == 400
    fixed["phone"] = "13800000078"
    taken = requests.post(f"{hall.base}/hall/ticket", data=fixed, timeout=5)
    assert taken.status_code == 201 and '<strong id="ticket-no">B002</strong>' in taken.text


def test_the_lights_go_unknown_while_review_is_silent_and_come_back_with_it(hall, run_services, wait):
    def known():
        board = requests.get(f"{hall.base}/hall/board.json", timeout=5).json()
        return {d["code"]: d["known"] for d in board["departments"]}

    review = run_services(FakeReview)
    wait(lambda: all(known().values()), message="the lights from review")
    # review's queue stays, with no one reading it: each call waits out its
    # time limit, which must not end the lights' timer
    review.stop()
    wait(lambda: not known()["MR"], timeout=30, message="the first light unknown")
    run_services(FakeReview)
    wait(lambda: all(known().values()), timeout=30, message="the lights back")
