"""The four services, started for one test and killed afterwards (not stopped:
a worker stuck on hostile input must not hold up the suite)."""
import pytest

from tests.conftest import stop_all


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
