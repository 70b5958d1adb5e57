"""Hostile-input tests: a sandbox of their own, and the services started for
one test and killed afterwards (not stopped: a worker stuck on hostile input
must not hold up the suite)."""
import pytest

from tests.conftest import sandboxed, stop_all


@pytest.fixture(scope="package")
def platform_env(platform_env):  # the session's first: its settings stay
    """The hostile-input tests get a vhost and databases of their own. In the
    shared ones, services they start also work through the events earlier
    tests left, and a supervision pass walks every open task those tests
    made: a health call then missed its deadline for work that was not
    theirs."""
    yield from sandboxed()


@pytest.fixture
def four_services(platform_env, service_config):
    from nameko.runners import ServiceRunner

    from services.registry import CENTRE

    runners = []
    try:
        for cls in CENTRE.classes:
            # with a portal, every case's texts include the links to it (rating)
            extra = ({"OW_PORTAL_URL": "https://zwfw.example.gov.cn", "OW_PORTAL_SECRET": "security-secret"}
                     if cls.name == "notify" else {})
            runner = ServiceRunner(service_config(cls.name, **extra))
            runner.add_service(cls)
            runner.start()
            runners.append(runner)
        yield runners
    finally:
        stop_all(runners, kill=True)
