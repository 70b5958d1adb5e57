"""Every method the gateway offers has a successful call in the gateway's
route table (tests/gateway/test_routes.py), with the errors it can give.
A new contract method fails here until it has its rows there."""
from tests.gateway.test_routes import TABLE, routes


def test_every_gateway_route_has_a_successful_call_in_the_table():
    offered = {tuple(path.split("/")[-2:]) for path in routes()}
    tested = {(service, method) for service, method, _, _, status in TABLE if status == 200}
    assert offered - tested == set(), "add rows for these methods to TABLE in tests/gateway/test_routes.py"
