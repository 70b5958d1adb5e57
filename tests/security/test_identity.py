"""Who is calling: the broker-validated user_id decides, never an argument."""
import uuid

import pytest
from nameko.exceptions import RemoteError

from services.fees.service import FeesService
from services.intake.service import IntakeService
from services.review.service import ReviewService


def test_every_method_of_the_centre_declares_who_may_call_it():
    from onewindow.entrypoints import rpc_methods
    from onewindow.principals import ROLES
    from services.registry import CENTRE
    methods = rpc_methods(CENTRE.classes)
    assert methods
    undeclared = sorted(name for name, method in methods.items() if not method.roles)
    assert not undeclared, f"@rpc without roles (nobody may call them): {undeclared}"
    assert all(set(m.roles) <= set(ROLES) for m in methods.values())


def refused(call, *args, **kwargs):
    with pytest.raises(RemoteError) as info:
        call(*args, **kwargs)
    assert info.value.exc_type == "Forbidden", info.value
    return str(info.value)


@pytest.fixture
def centre(run_services):
    return run_services(IntakeService, ReviewService, FeesService)


def test_anonymous_reads_the_catalog_and_nothing_else(centre, rpc):
    nobody = rpc.as_principal(None)
    items = nobody.intake.list_items()
    assert items and nobody.intake.form_for(items[0]["code"])["fields"]
    assert nobody.intake.health()["ok"]
    # refused before the arguments are looked at: nonsense gets Forbidden too
    refused(nobody.intake.submit, {"client_ref": "x"})
    refused(nobody.intake.submit, "not even an application")
    refused(nobody.intake.get, "2026ZW000001")
    refused(nobody.review.tasks, "PSB")
    refused(nobody.fees.pay, "B1", 100, "cash", "p1")


def test_a_name_the_registry_does_not_know_is_refused(centre, rpc):
    message = refused(rpc.as_principal(f"stranger-{uuid.uuid4().hex[:6]}").intake.list_items)
    assert "not a registered principal" in message


def test_each_role_calls_only_what_the_table_gives_it(centre, rpc):
    window, portal = rpc.as_role("window"), rpc.as_role("portal")
    cashier, operator = rpc.as_role("cashier"), rpc.as_role("operator")
    refused(window.intake.rate, "2026ZW000001", 5)
    refused(window.intake.track, "2026ZW000001", "13800138000")
    refused(window.review.supervise)
    refused(window.fees.pay, "B1", 100, "cash", "p1")
    refused(portal.intake.get, "2026ZW000001")
    refused(cashier.review.decide, "t", "PSB", "r", "approve", "ok", "ref")
    refused(operator.review.set_roster, "PSB", "a", "b")
    refused(rpc.as_role("department", "PSB").review.supervise)
    refused(rpc.as_role("supervisor").review.decide, "t", "PSB", "r", "approve", "ok", "ref")


def accepted_case(rpc, wait):
    """A committed case reviewed by two departments or more, with its tasks."""
    from scripts.sample import application
    item = next(i for i in rpc.intake.list_items() if i["kind"] == "committed" and len(i["departments"]) > 1)
    app, _ = application(item, rpc.intake.form_for(item["code"])["fields"], f"id-{uuid.uuid4().hex}")
    number = rpc.intake.submit(app)["application_no"]
    tasks = wait(lambda: (lambda t: t if t and len(t) == len(item["departments"]) else None)(
        _tasks(rpc, number)), 20, message="review tasks")
    return number, tasks


def _tasks(rpc, number):
    try:
        return rpc.review.application(number)["tasks"]
    except RemoteError:
        return None


def test_a_department_is_refused_another_departments_tasks_even_naming_it(centre, rpc, wait):
    number, tasks = accepted_case(rpc, wait)
    mine, theirs = tasks[0], tasks[1]
    me = rpc.as_role("department", mine["department"])
    assert all(t["department"] == mine["department"] for t in me.review.tasks(mine["department"]))
    refused(me.review.tasks, theirs["department"])
    refused(me.review.decide, theirs["task_id"], theirs["department"], theirs["assignee"], "approve", "同意",
            f"x-{uuid.uuid4().hex}")
    # naming its own department on another's task is refused by the task's owner check
    refused(me.review.decide, theirs["task_id"], mine["department"], theirs["assignee"], "approve", "同意",
            f"x-{uuid.uuid4().hex}")
    after = rpc.review.application(number)
    assert {t["task_id"]: t["status"] for t in after["tasks"]}[theirs["task_id"]] == "open"


def test_on_behalf_of_is_honoured_from_the_gateway_only(centre, rpc, platform_env):
    from onewindow.client import PrincipalRpcProxy
    sandbox = platform_env["sandbox"]
    window = sandbox.principal("window")
    gateway = sandbox.principal("gateway")

    def call_as(user_id, on_behalf_of):
        proxy = PrincipalRpcProxy({"AMQP_URI": sandbox.caller_uri}, user_id=user_id,
                                  context_data={"on_behalf_of": on_behalf_of}, timeout=20)
        return proxy

    # the gateway relaying a window clerk may do what the window may
    with call_as(gateway, window) as via_gateway:
        with pytest.raises(RemoteError) as info:
            via_gateway.intake.get("2026ZW999999")
        assert info.value.exc_type in ("NotFound", "ValidationFailed")
        refused(via_gateway.intake.rate, "2026ZW999999", 5)
    # the gateway on its own is nobody; on behalf of a stranger, refused
    with call_as(gateway, None) as bare_gateway:
        refused(bare_gateway.intake.get, "2026ZW999999")
    with call_as(gateway, "nobody-we-know") as stranger:
        refused(stranger.intake.list_items)
    # anyone else naming a principal gains nothing by it
    with call_as(sandbox.principal("portal"), window) as portal:
        refused(portal.intake.get, "2026ZW999999")


def test_a_removed_principal_is_refused_at_its_next_call(centre, rpc, platform_env, service_sql):
    sandbox = platform_env["sandbox"]
    name = f"temp-{uuid.uuid4().hex[:6]}"
    from onewindow.sandbox import register_principal
    register_principal(platform_env["databases"].values(), name, "operator")
    assert rpc.as_principal(name).intake.report("2026-01-01", "2026-01-31")
    for service in platform_env["databases"]:
        service_sql(service, "DELETE FROM principals WHERE name = %s", (name,))
    refused(rpc.as_principal(name).intake.report, "2026-01-01", "2026-01-31")
    assert sandbox  # the sandbox's own principals are untouched


def test_an_idempotency_key_belongs_to_its_principal_and_its_request(centre, rpc, platform_env):
    from scripts.sample import application
    item = next(i for i in rpc.intake.list_items() if i["kind"] == "committed")
    fields = rpc.intake.form_for(item["code"])["fields"]
    key = f"1001-{uuid.uuid4().hex[:6]}"
    first_window = rpc.as_principal(platform_env["sandbox"].principal("window"))
    other_window = rpc.as_principal(platform_env["sandbox"].principal("window", name=f"window-b-{key}"))
    mine, _ = application(item, fields, key, phone="13900139001", name="李四")
    theirs, _ = application(item, fields, key, phone="13900139002", name="王五")
    receipt = first_window.intake.submit(mine)
    assert first_window.intake.submit(mine) == receipt  # a repeat: the first result, nothing new
    with pytest.raises(RemoteError) as info:
        first_window.intake.submit(theirs)
    assert info.value.exc_type == "Conflict" and "different request" in str(info.value)
    with pytest.raises(RemoteError) as info:
        other_window.intake.submit(theirs)
    assert info.value.exc_type == "Conflict" and "another caller" in str(info.value)
    assert receipt["application_no"] not in str(info.value)


def test_a_department_reads_only_the_cases_it_reviews(centre, rpc, wait):
    number, tasks = accepted_case(rpc, wait)
    reviewing = rpc.as_role("department", tasks[0]["department"])
    assert reviewing.review.application(number)["application_no"] == number
    stranger = rpc.as_role("department", "NOT_ON_THIS_CASE")
    refused(stranger.review.application, number)
