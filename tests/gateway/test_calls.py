"""onewindow.calls: a service calls another as its own broker user, naming
the principal it acts for, and gives up after its timeout."""
import eventlet
import pytest
from nameko.extensions import DependencyProvider
from nameko.rpc import rpc

from onewindow.calls import CallTimeout, ServiceCaller


class ContextData(DependencyProvider):
    def get_dependency(self, worker_ctx):
        return worker_ctx.data


class Echo:
    name = "gw_echo"
    context = ContextData()

    @rpc
    def whoami(self, pause=0):
        eventlet.sleep(pause)
        return {"on_behalf_of": self.context.get("on_behalf_of")}

    @rpc
    def pay(self, method, timeout, args):
        return {"method": method, "timeout": timeout, "args": args}


class Caller:
    name = "gw_caller"
    services = ServiceCaller()

    @rpc
    def relay(self, principal, pause=0, timeout=5):
        try:
            return self.services("gw_echo", "whoami", {"pause": pause}, on_behalf_of=principal, timeout=timeout)
        except CallTimeout as exc:
            return {"timeout": str(exc)}

    @rpc
    def relay_pay(self):
        return self.services("gw_echo", "pay", {"method": "cash", "timeout": 9, "args": [1]})


@pytest.fixture
def pair(run_services):
    run_services(Echo, Caller)


def test_the_principal_travels_as_context_data(pair, rpc):
    assert rpc.gw_caller.relay("ow-dept-PSB") == {"on_behalf_of": "ow-dept-PSB"}


def test_a_call_that_outlasts_its_timeout_gives_up(pair, rpc):
    result = rpc.gw_caller.relay("ow-dept-PSB", pause=2, timeout=0.3)
    assert "did not answer within 0.3 s" in result["timeout"]


def test_arguments_named_like_the_wait_s_own_travel_as_the_call_s(pair, rpc):
    # a contract method may have arguments called method (fees.pay), timeout or args
    assert rpc.gw_caller.relay_pay() == {"method": "cash", "timeout": 9, "args": [1]}
