"""The applicants' web in a real browser (Debian's headless chromium, with
JavaScript off): an applicant finds an item, applies with one mistake,
corrects it, is accepted, tracks the case with the code texted by notify's
local provider, and rates it from the link in the SMS; screenshots at phone
and desktop widths land in var/screenshots/portal (or OW_SCREENSHOTS), and
axe-core finds no serious or critical accessibility violation on the way."""
import os
import pathlib
import random
import re
import subprocess
import sys

import pytest

from .conftest import sms_code

HERE = pathlib.Path(__file__).resolve().parent
WALK = HERE / "browser_walk.py"
AXE = HERE / "axe" / "node_modules" / "axe-core" / "axe.min.js"
SHOTS = HERE.parents[1] / "var" / "screenshots" / "portal"


def test_an_applicant_applies_tracks_and_rates_online(portal, rpc, wait):
    if not os.path.exists("/usr/bin/chromium"):
        pytest.fail("chromium is not installed: run `bash scripts/ensure-tools.sh` (Debian package `chromium`)")
    if not AXE.exists():
        pytest.fail("axe-core is not installed: run `bash scripts/ensure-clients.sh` (make tools)")
    shots = pathlib.Path(os.environ.get("OW_SCREENSHOTS") or SHOTS)
    shots.mkdir(parents=True, exist_ok=True)
    phone = f"139{random.randrange(10 ** 8):08d}"
    walk = subprocess.Popen([sys.executable, str(WALK), portal, str(shots), str(AXE), phone], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines = []

    def expect(word):
        while True:
            line = walk.stdout.readline()
            assert line, f"the browser stopped before {word}: {lines}\n{walk.stderr.read()}"
            lines.append(line.strip())
            if line.startswith(word):
                return line.split()

    try:
        application_no = expect("APPLIED")[1]
        case = rpc.intake.get(application_no)
        assert (case["status"], case["channel"]) == ("accepted", "online")
        assert case["history"][0]["by"] == "sbx-portal"  # the portal called as its principal

        expect("CODE?")
        walk.stdin.write(f"CODE {sms_code(rpc, phone, wait)}\n")
        walk.stdin.flush()
        assert expect("CASE")[1] in ("已受理", "审查中")

        # the police approve; the case completes and notify texts the signed rating link
        task = wait(lambda: [t for t in rpc.review.tasks("PSB", status="open")
                             if t["application_no"] == application_no], message="PSB's task")[0]
        rpc.review.decide(task["task_id"], "PSB", task["assignee"], "approve", "同意", f"walk-{application_no}")
        invitation = wait(lambda: [m for m in rpc.notify.messages(application_no=application_no)
                                   if m["template"] == "rating_invitation"], timeout=30, message="the rating SMS")[0]
        link = re.search(r"(https?://\S+)$", invitation["text"]).group(1)
        assert link.startswith(portal + f"/rate/{application_no}/")
        walk.stdin.write(f"RATE {link[len(portal):]}\n")
        walk.stdin.flush()
        expect("RATED")
        done = expect("DONE")
        assert walk.wait(60) == 0, walk.stderr.read()
    finally:
        if walk.poll() is None:
            walk.kill()
    assert done == ["DONE", "errors=0"], lines
    assert rpc.intake.track(application_no, phone)["rated"] is True
    axe = {line.split()[1]: line.split()[2:] for line in lines if line.startswith("AXE")}
    assert set(axe) == {"home", "item", "mistake", "case", "rate"}, lines
    assert all(found[0] == "0" for found in axe.values()), axe
    for name in ("1-guide-item-phone.png", "1-guide-item-desktop.png", "2-one-mistake-phone.png",
                 "3-accepted-phone.png", "4-case-phone.png", "4-case-desktop.png", "5-rated-phone.png"):
        assert (shots / name).stat().st_size > 10_000, name
