"""The applicants' web with the services it calls, started once for all the
portal's tests: intake, review, notify, the hall (open all day) and
the portal, which calls as the sandbox's principal of role `portal`."""
import os
import pathlib
import re
import urllib.parse

import eventlet
import pytest
import requests

from onewindow import links
from onewindow.sandbox import free_port

SECRET = "portal-tests-secret"
HALL_LAYOUT = pathlib.Path(__file__).resolve().parents[1] / "hall" / "layout.yaml"


@pytest.fixture(scope="package")
def portal(platform_env):
    from nameko.runners import ServiceRunner

    from services.registry import CENTRE
    sandbox = platform_env["sandbox"]
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    os.environ["HALL_LAYOUT"] = str(HALL_LAYOUT)
    web = {"OW_PORTAL_URL": base, "OW_PORTAL_SECRET": SECRET}
    runners = []
    for name in ("intake", "review", "notify", "hall", "portal"):
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
    """A browser without JavaScript: a cookie jar, and the hidden inputs
    (CSRF token, idempotency reference) of the last page with a form."""

    def __init__(self, base):
        self.base = base
        self.http = requests.Session()
        self.hidden = {}

    @property
    def csrf(self):
        return self.hidden.get("csrf")

    def get(self, path, **kwargs):
        response = self.http.get(self.base + path, timeout=30, **kwargs)
        found = dict(re.findall(r'<input type="hidden" name="(csrf|client_ref)" value="([^"]+)"', response.text))
        if found:
            self.hidden = found
        return response

    def post(self, path, data, **kwargs):
        body = list(data.items()) if isinstance(data, dict) else list(data)
        named = {name for name, _ in body}
        hidden = [(k, v) for k, v in self.hidden.items() if k not in named]
        return self.http.post(self.base + path, data=[*hidden, *body], timeout=30,
                              allow_redirects=kwargs.pop("allow_redirects", True), **kwargs)


@pytest.fixture
def browser(portal):
    return Browser(portal)


def rating_path(application_no):
    return links.rating_path(SECRET, application_no)


def sms_codes(rpc, phone):
    """Every tracking code texted to `phone` (notify's local provider), oldest first."""
    texts = sorted((m for m in rpc.notify.messages(phone=phone) if m["template"] == "portal_tracking_code"),
                   key=lambda m: m["created_at"])
    return [re.search(r"验证码为(\d{6})", m["text"]).group(1) for m in texts]


def sms_code(rpc, phone, wait, count=1):
    """The `count`-th tracking code texted to `phone`, once it is there."""
    return wait(lambda: sms_codes(rpc, phone)[count - 1:count], timeout=20,
                message=f"tracking code {count} texted to {phone}")[0]


def quote(value):
    return urllib.parse.quote(value, safe="")
