"""The big screen in a real browser: Debian's headless chromium opens /hall,
takes a remote ticket through the web form, the test calls it from a window
over RPC (as a window clerk's system does), and the open screen shows it
without a reload. Screenshots are kept in the test's directory (or in
OW_SCREENSHOTS)."""
import os
import pathlib
import subprocess
import sys

import pytest

from .conftest import ref

WALK = pathlib.Path(__file__).resolve().parent / "browser_walk.py"


def test_the_screen_shows_a_web_ticket_called_at_a_window(hall, tmp_path):
    if not os.path.exists("/usr/bin/chromium"):
        pytest.fail("chromium is not installed: run `bash scripts/ensure-tools.sh` (Debian package `chromium`)")
    shots = pathlib.Path(os.environ.get("OW_SCREENSHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    walk = subprocess.Popen([sys.executable, str(WALK), hall.base, str(shots)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = walk.stdout.readline().split()
        assert first[:1] == ["TICKET"], walk.stderr.read()
        ticket_no = first[1]
        assert hall.rpc.ticket(ticket_no)["channel"] == "remote"
        called = hall.rpc.call_next("2", ref())
        assert called["ticket_no"] == ticket_no
        walk.stdin.write("CALLED 2\n")
        walk.stdin.flush()
        shown = walk.stdout.readline()
        assert walk.wait(60) == 0, walk.stderr.read()
    finally:
        if walk.poll() is None:
            walk.kill()
    assert shown.split() == ["SHOWN", ticket_no, "waiting=0", "navigations=1", "errors=0"], (shown, walk.stderr.read())
    for name in ("1-screen-before.png", "2-remote-ticket.png", "3-screen-called.png"):
        assert (shots / name).stat().st_size > 10_000, name
