"""The four services, started for one test and killed afterwards (not stopped:
a worker stuck on hostile input must not hold up the suite)."""
import pytest


@pytest.fixture
def four_services(platform_env, service_config):
    from nameko.runners import ServiceRunner

    from onewindow import topology

    runners = []
    try:
        for cls in topology.service_classes():
            runner = ServiceRunner(service_config(cls.name))
            runner.add_service(cls)
            runner.start()
            runners.append(runner)
        yield runners
    finally:
        for runner in reversed(runners):
            runner.kill()
