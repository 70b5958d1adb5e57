"""`onewindow run` keeps its services running: one that dies is started
again after a backoff while the others keep running."""
import os
import signal
import sys
import threading
import time

from onewindow.cli import Supervisor


def test_a_killed_service_is_restarted_and_the_others_keep_running(capsys):
    sleeper = ([sys.executable, "-c", "import time; time.sleep(120)"], None)
    supervisor = Supervisor({"a": sleeper, "b": sleeper})
    supervisor.BACKOFF_START = 0.2
    supervisor.start_all()
    watcher = threading.Thread(target=supervisor.watch, kwargs={"interval": 0.05}, daemon=True)
    watcher.start()
    try:
        first_a, first_b = supervisor.procs["a"].pid, supervisor.procs["b"].pid
        os.kill(first_a, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while supervisor.procs["a"].pid == first_a and time.monotonic() < deadline:
            time.sleep(0.05)
        assert supervisor.procs["a"].pid != first_a and supervisor.procs["a"].poll() is None
        assert supervisor.procs["b"].pid == first_b and supervisor.procs["b"].poll() is None
        assert supervisor.restarts == {"a": 1, "b": 0}
    finally:
        supervisor.stopping = True
        watcher.join(5)
        supervisor.stop_all(grace=5)
    assert "a exited with status -9" in capsys.readouterr().err


def test_a_crash_loop_backs_off_and_is_reported(capsys):
    supervisor = Supervisor({"bad": ([sys.executable, "-c", "raise SystemExit(3)"], None)})
    supervisor.BACKOFF_START = 0.05
    supervisor.start_all()
    deadline = time.monotonic() + 15
    while supervisor.restarts["bad"] < 3 and time.monotonic() < deadline:
        supervisor.check()
        time.sleep(0.02)
    supervisor.stop_all(grace=1)
    err = capsys.readouterr().err
    assert "CRASH LOOP" in err and "restarting in" in err
    # the waits grew: 0.05, 0.1, 0.2 ...
    assert supervisor.failures["bad"] >= 3
