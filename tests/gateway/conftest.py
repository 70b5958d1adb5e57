"""The whole centre with its gateway, started once for the gateway's tests;
principals with tokens; an HTTP client for the gateway."""
import os
import uuid

import pytest
import requests

from tests.conftest import stop_all


@pytest.fixture(scope="module")
def centre(platform_env):
    """Every service, the gateway included, running on the test broker."""
    from nameko.runners import ServiceRunner

    import pathlib

    from services.registry import CENTRE
    # the hall open all day, so that its calls work at any hour
    os.environ["HALL_LAYOUT"] = str(pathlib.Path(__file__).resolve().parents[1] / "hall" / "layout.yaml")
    os.environ["GATEWAY_WEBHOOK_RETRY_SECONDS"] = "0.2"
    os.environ["GATEWAY_WEBHOOK_ATTEMPTS"] = "3"
    os.environ["GATEWAY_WEBHOOK_POLL_SECONDS"] = "0.1"
    runners = []
    # the gateway connects as a user registered with role gateway: the sandbox's
    # caller, so that services honour the principal it names
    sandbox = platform_env["sandbox"]
    sandbox.principal("gateway", name=sandbox.caller_user)
    for cls in CENTRE.classes:
        config = dict(CENTRE.nameko_config(cls.name), METRICS_PORT=None)
        if cls.name == "gateway":
            config["AMQP_URI"] = sandbox.caller_uri
        runner = ServiceRunner(config)
        runner.add_service(cls)
        runner.start()
        runners.append(runner)
    yield f"http://{CENTRE.web_address('gateway').replace('0.0.0.0', '127.0.0.1')}"
    stop_all(runners)


@pytest.fixture(scope="module")
def admin(platform_env):
    """The operator's RPC calls (tokens, webhooks)."""
    with platform_env["sandbox"].router() as router:
        yield router


@pytest.fixture(scope="module")
def token(centre, admin, platform_env):
    """token(principal, role="window", department=None): a fresh bearer token
    bound to that principal, registered with that role."""
    def issue(principal, role="window", department=None):
        platform_env["sandbox"].principal(role, department, name=principal)
        return admin.gateway.issue_token(principal)["token"]
    return issue


class Gateway:
    """POSTs to the gateway; without a token of its own a call goes with the
    token of a principal whose role may call that method (a department
    method as the department the body names)."""

    def __init__(self, base, token, token_for=None):
        self.base, self.token, self.token_for = base, token, token_for

    def post(self, service, method, body=None, token=None, **kwargs):
        headers = kwargs.pop("headers", {})
        if token is None and self.token_for is not None:
            token = self.token_for(service, method, body)
        headers.setdefault("Authorization", f"Bearer {token or self.token}")
        data = kwargs.pop("data", None)
        if data is None:
            return requests.post(f"{self.base}/api/v1/{service}/{method}", json=body if body is not None else {},
                                 headers=headers, timeout=60, **kwargs)
        return requests.post(f"{self.base}/api/v1/{service}/{method}", data=data, headers=headers, timeout=60,
                             **kwargs)

    def call(self, _service, _method, **kwargs):
        """The result, asserting success."""
        response = self.post(_service, _method, kwargs)
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture(scope="module")
def gateway(centre, token):
    from onewindow.client import ROLE_PREFERENCE
    from onewindow.entrypoints import rpc_methods
    from services.registry import CENTRE
    methods, tokens = rpc_methods(CENTRE.classes), {}

    def token_for(service, method, body):
        declared = methods.get(f"{service}.{method}")
        if declared is None:
            return None
        role = next((r for r in ROLE_PREFERENCE if r in declared.roles and r != "anonymous"), "window")
        department = body.get("department") if role == "department" and isinstance(body, dict) else None
        department = department if isinstance(department, str) and department.isalnum() else None
        if role == "department" and department is None:
            department = "NONE"
        name = f"gw-{role}-{department}" if department else f"gw-{role}"
        if name not in tokens:
            tokens[name] = token(name, role, department)
        return tokens[name]

    return Gateway(centre, token(f"window-{uuid.uuid4().hex[:6]}"), token_for)
