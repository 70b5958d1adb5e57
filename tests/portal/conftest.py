"""The applicants' web with the services it calls, started once for the
portal's tests: intake, review, fees, notify, the hall (open all day) and
the portal, which calls as the sandbox's principal of role `portal`."""
import os
import pathlib
import re
import socket
import urllib.parse

import eventlet
import pytest
import requests

from onewindow import links

SECRET = "portal-tests-secret"
HALL_LAYOUT = pathlib.Path(__file__).resolve().parents[1] / "hall" / "layout.yaml"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def portal(platform_env):
    from nameko.runners import ServiceRunner

    from services.registry import CENTRE
    sandbox = platform_env["sandbox"]
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    os.environ["HALL_LAYOUT"] = str(HALL_LAYOUT)
    web = {"OW_PORTAL_URL": base, "OW_PORTAL_SECRET": SECRET}
    runners = []
    for name in ("intake", "review", "fees", "notify", "hall", "portal"):
        # few connections each: the machine's PostgreSQL is shared by every test run
        config = dict(CENTRE.nameko_config(name), METRICS_PORT=None, DB_POOL_SIZE=2, **web)
        if name == "portal":
            config.update(AMQP_URI=sandbox.caller_uri, CALL_AS=sandbox.principal("portal"),
                          WEB_SERVER_ADDRESS=f"127.0.0.1:{port}")
        runner = ServiceRunner(config)
        runner.add_service(CENTRE.service_class(name))
        runner.start()
        runners.append(runner)
    yield base
    pool = eventlet.GreenPool()
    for runner in reversed(runners):
        pool.spawn_n(runner.stop)
    pool.waitall()


class Browser:
    """A browser without JavaScript: a cookie jar, and the CSRF token of the
    last page with a form."""

    def __init__(self, base):
        self.base = base
        self.http = requests.Session()
        self.csrf = None

    def get(self, path, **kwargs):
        response = self.http.get(self.base + path, timeout=30, **kwargs)
        found = re.search(r'name="csrf" value="([^"]+)"', response.text)
        if found:
            self.csrf = found.group(1)
        return response

    def post(self, path, data, **kwargs):
        body = list(data.items()) if isinstance(data, dict) else list(data)
        return self.http.post(self.base + path, data=[("csrf", self.csrf), *body], timeout=30,
                              allow_redirects=kwargs.pop("allow_redirects", True), **kwargs)


@pytest.fixture
def browser(portal):
    return Browser(portal)


def rating_path(application_no):
    return links.rating_path(SECRET, application_no)


def sms_code(rpc, phone, wait, after=0):
    """The newest tracking code texted to `phone` (notify's local provider)."""
    def found():
        texts = [m for m in rpc.notify.messages(phone=phone) if m["template"] == "portal_tracking_code"
                 and m["message_id"] > after]
        return texts and re.search(r"验证码为(\d{6})", texts[-1]["text"]).group(1)
    return wait(found, timeout=20, message=f"a tracking code texted to {phone}")


def quote(value):
    return urllib.parse.quote(value, safe="")
