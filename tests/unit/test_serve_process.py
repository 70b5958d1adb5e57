"""`onewindow serve` patches for eventlet before anything keeps a blocking
call: psycopg_pool sleeps with the time.sleep it found at import, and a real
sleep while PostgreSQL recovers froze a whole service for minutes."""
import subprocess
import sys

PROBE = """
import time
from onewindow import cli

def probe(args):
    import eventlet
    eventlet.monkey_patch()  # what serve does first
    import psycopg_pool._acompat as pool_compat
    print("green" if pool_compat.sleep is time.sleep else "blocking")

cli.COMMANDS["serve"] = (probe, "probe")
cli.main(["serve", "intake"])
"""


def test_serve_leaves_the_database_pool_no_blocking_sleep():
    result = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120)
    assert result.stdout.strip() == "green", result.stderr[-2000:]
