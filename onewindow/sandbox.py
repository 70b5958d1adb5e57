"""An isolated place to run the system: its own RabbitMQ vhost and its own
databases, so tests, benchmarks and drills never collide with each other or
with a running centre."""
import json
import os
import shutil
import subprocess
import urllib.parse
import urllib.request
import uuid

from . import config, migrate

ADMIN_DB = "postgresql://onewindow:onewindow@127.0.0.1:5432/postgres"


def admin_url():
    return os.environ.get("OW_ADMIN_DATABASE_URL", ADMIN_DB)


def _rabbitmqctl(*args):
    return subprocess.run(["rabbitmqctl", "-q", *args], capture_output=True, text=True, timeout=60)


def _management(method, path, body=None):
    req = urllib.request.Request(f"http://127.0.0.1:15672/api/{path}", method=method,
                                 data=json.dumps(body).encode() if body is not None else None,
                                 headers={"content-type": "application/json",
                                          "authorization": "Basic Z3Vlc3Q6Z3Vlc3Q="})
    urllib.request.urlopen(req, timeout=10).read()


def create_vhost(name):
    quoted = urllib.parse.quote(name, safe="")
    if shutil.which("rabbitmqctl") and _rabbitmqctl("add_vhost", name).returncode == 0:
        _rabbitmqctl("set_permissions", "-p", name, "guest", ".*", ".*", ".*")
        return name
    try:
        _management("PUT", f"vhosts/{quoted}")
        _management("PUT", f"permissions/{quoted}/guest", {"configure": ".*", "write": ".*", "read": ".*"})
        return name
    except Exception:
        return None


def delete_vhost(name):
    if shutil.which("rabbitmqctl") and _rabbitmqctl("delete_vhost", name).returncode == 0:
        return
    try:
        _management("DELETE", f"vhosts/{urllib.parse.quote(name, safe='')}")
    except Exception:
        pass


class Sandbox:
    """Creates the vhost and databases, sets the environment variables every
    part of the system reads, and removes it all on close."""

    def __init__(self, prefix="ows", broker="127.0.0.1:5672"):
        self.run_id = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        self.broker = os.environ.get("OW_TEST_BROKER", broker)
        self.vhost = None
        self.databases = {}
        self._saved = None

    def open(self, setup=True):
        self.vhost = create_vhost(self.run_id)
        if self.vhost is None:
            raise RuntimeError("could not create a RabbitMQ vhost (need rabbitmqctl or the management plugin)")
        self.amqp_uri = f"amqp://guest:guest@{self.broker}/{urllib.parse.quote(self.vhost, safe='')}"
        self._saved = dict(os.environ)
        os.environ["AMQP_URI"] = self.amqp_uri
        os.environ["OW_ADMIN_DATABASE_URL"] = admin_url()
        base = admin_url().rsplit("/", 1)[0]
        for service in config.SERVICES:
            name = f"{self.run_id}_{service}"
            migrate.create_database(admin_url(), name)
            self.databases[service] = f"{base}/{name}"
            os.environ[f"{service.upper()}_DATABASE_URL"] = self.databases[service]
        if setup:
            from .cli import setup_all
            setup_all(quiet=True)
        return self

    def close(self):
        if self._saved is not None:
            os.environ.clear()
            os.environ.update(self._saved)
        for service in list(self.databases):
            migrate.drop_database(admin_url(), f"{self.run_id}_{service}")
        if self.vhost:
            delete_vhost(self.vhost)

    def __enter__(self):
        return self.open()

    def __exit__(self, *exc):
        self.close()
