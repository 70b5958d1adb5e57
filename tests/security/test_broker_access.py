"""Least privilege on the broker: each service its own user, a department
system's user may call RPC and read its replies, nothing else. Every refusal
asserted here comes from RabbitMQ itself (ACCESS_REFUSED, 403)."""
import json
import urllib.parse
import uuid

import amqp
import pytest
from amqp.exceptions import AccessRefused, PreconditionFailed
from nameko.exceptions import RemoteError

from onewindow import access, client, sandbox
from services.registry import CENTRE

BROKER = "127.0.0.1:5672"


@pytest.fixture(scope="module")
def locked_vhost(platform_env):
    """A fresh vhost with the whole topology declared by the administrator
    (as `onewindow setup` does), one user per service and one department."""
    vhost = sandbox.create_vhost(f"owsec_{uuid.uuid4().hex[:8]}")
    if vhost is None:
        pytest.fail("could not create a vhost")
    prefix = f"ow{uuid.uuid4().hex[:6]}"  # user names are broker-wide
    admin_uri = f"amqp://guest:guest@{BROKER}/{urllib.parse.quote(vhost, safe='')}"
    users = []
    try:
        access.declare_topology(admin_uri, CENTRE)
        services = access.create_service_users(vhost, CENTRE, prefix=prefix)
        users += [user for user, _ in services.values()]
        dept = access.create_department_user(vhost, "scjg", CENTRE.names, prefix=prefix)
        users.append(dept[0])
        probe = (access.user_name(access.PROBE_USER, prefix), uuid.uuid4().hex)
        access.apply_grant(vhost, *probe, access.probe_grant(CENTRE.names))
        users.append(probe[0])
        uris = {svc: access.amqp_uri_for(u, p, vhost, BROKER) for svc, (u, p) in services.items()}
        uris["dept"] = access.amqp_uri_for(*dept, vhost, BROKER)
        uris["probe"] = access.amqp_uri_for(*probe, vhost, BROKER)
        yield {"vhost": vhost, "admin": admin_uri, "uri": uris, "users": users}
    finally:
        for user in users:
            access.delete_user(user)
        sandbox.delete_vhost(vhost)


def channel(uri):
    """A raw py-amqp channel in confirm mode, so a refused publish raises."""
    parts = urllib.parse.urlsplit(uri)
    conn = amqp.Connection(host=parts.netloc.rsplit("@", 1)[1],
                           userid=urllib.parse.unquote(parts.username),
                           password=urllib.parse.unquote(parts.password),
                           virtual_host=urllib.parse.unquote(parts.path[1:]), confirm_publish=True)
    conn.connect()
    return conn, conn.channel()


def assert_refused(uri, action):
    conn, ch = channel(uri)
    try:
        with pytest.raises(AccessRefused) as info:
            action(ch)
        assert info.value.code == 403 and "ACCESS_REFUSED" in str(info.value)
        return str(info.value)
    finally:
        try:
            conn.close()
        except Exception:
            pass


def assert_allowed(uri, action):
    conn, ch = channel(uri)
    try:
        return action(ch)
    finally:
        conn.close()


def publish(exchange, routing_key, body=None):
    return lambda ch: ch.basic_publish(amqp.Message(json.dumps(body or {"probe": True})),
                                       exchange=exchange, routing_key=routing_key)


def consume(queue):
    return lambda ch: ch.basic_consume(queue=queue, callback=lambda m: None)


def queue_of(service, source, event_type):
    for src, kind, queue in CENTRE.subscriptions():
        if src == source and kind == event_type and queue.split("--", 1)[1].startswith(service + "."):
            return queue
    pytest.skip(f"{service} does not listen to {source}.{event_type}")


def test_department_calls_rpc_as_itself_and_reads_its_reply(locked_vhost, run_services, platform_env):
    from services.intake.service import IntakeService

    dept_user = client.user_of(locked_vhost["uri"]["dept"])
    sandbox.register_principal([platform_env["databases"]["intake"]], dept_user, "department", "scjg")
    run_services(IntakeService, intake={"AMQP_URI": locked_vhost["uri"]["intake"]})
    with client.caller(locked_vhost["uri"]["dept"], timeout=20) as dept:
        items = dept.intake.list_items()
        assert items and all("code" in item for item in items)
        # the broker proved who it is: intake knows it is a department, and a
        # department does not read intake's records
        with pytest.raises(RemoteError) as info:
            dept.intake.get("NO-SUCH-APPLICATION")
        assert info.value.exc_type == "Forbidden" and dept_user in str(info.value)


def test_a_forged_user_id_is_refused_by_the_broker(locked_vhost):
    """RabbitMQ closes the channel (406 PRECONDITION_FAILED) when user_id is
    not the connection's user: a department cannot call as the window."""
    conn, ch = channel(locked_vhost["uri"]["dept"])
    try:
        with pytest.raises(PreconditionFailed) as info:
            ch.basic_publish(amqp.Message(json.dumps({"args": [], "kwargs": {}}), user_id="sbx-window",
                                          reply_to=str(uuid.uuid4()), content_type="application/json"),
                             exchange="nameko-rpc", routing_key="intake.health")
        assert info.value.code == 406 and "user_id" in str(info.value)
    finally:
        try:
            conn.close()
        except Exception:
            pass


def test_department_is_refused_the_event_queues_and_exchanges(locked_vhost):
    dept = locked_vhost["uri"]["dept"]
    accepted_by_review = queue_of("review", "intake", "application_accepted")
    assert_refused(dept, consume(accepted_by_review))
    assert_refused(dept, publish("intake.events", "application_accepted",
                                 {"event_id": str(uuid.uuid4()), "application_no": "FORGED"}))
    assert_refused(dept, publish("review.events", "review_completed"))
    # nor can it get at an event through a queue of its own ...
    reply_queue = f"rpc.reply-standalone_rpc_proxy-{uuid.uuid4()}"

    def bind_own_queue_to_events(ch):
        ch.queue_declare(reply_queue, auto_delete=True)
        ch.queue_bind(reply_queue, exchange="intake.events", routing_key="#")
    assert_refused(dept, bind_own_queue_to_events)

    # ... nor copy other callers' RPC requests (topic permission on the binding key)
    def bind_own_queue_to_requests(ch):
        ch.queue_declare(reply_queue, auto_delete=True)
        ch.queue_bind(reply_queue, exchange="nameko-rpc", routing_key="intake.*")
    message = assert_refused(dept, bind_own_queue_to_requests)
    assert "topic" in message
    # ... nor declare a queue by another name, nor delete a service's queue
    assert_refused(dept, lambda ch: ch.queue_declare(f"evt-intake-application_accepted--dept.{uuid.uuid4().hex}"))
    assert_refused(dept, lambda ch: ch.queue_delete("rpc-intake"))
    # publishing a call is allowed, with a reply uuid binding only
    assert_allowed(dept, publish("nameko-rpc", "intake.health"))


def test_service_user_does_its_own_work_only(locked_vhost):
    intake = locked_vhost["uri"]["intake"]
    own_queue = queue_of("intake", "review", "review_completed")

    def own_work(ch):
        ch.exchange_declare("intake.events", "topic", durable=True, auto_delete=False)
        ch.queue_declare(own_queue, durable=True, auto_delete=False)
        ch.queue_bind(own_queue, exchange="review.events", routing_key="review_completed")
        ch.queue_declare("rpc-intake", durable=True, auto_delete=False)
        ch.queue_bind("rpc-intake", exchange="nameko-rpc", routing_key="intake.*")
        ch.basic_consume(queue=own_queue, callback=lambda m: None)
        ch.basic_consume(queue="rpc-intake", callback=lambda m: None)
        ch.basic_publish(amqp.Message("{}"), exchange="intake.events", routing_key="application_rated")
        return True
    assert assert_allowed(intake, own_work)

    # another service's events exchange, queues and RPC requests are not its own
    assert_refused(intake, publish("review.events", "review_completed"))
    assert_refused(intake, publish("fees.events", "bill_paid"))
    assert_refused(intake, consume(queue_of("review", "intake", "application_accepted")))
    assert_refused(intake, consume("rpc-fees"))
    assert_refused(intake, lambda ch: ch.queue_bind(own_queue, exchange="review.events", routing_key="#"))
    # a listener of review.events may bind only the types it handles
    fees = locked_vhost["uri"]["fees"]
    assert_refused(fees, publish("intake.events", "application_accepted"))
    assert_refused(fees, lambda ch: ch.queue_delete("rpc-intake"))


def test_the_portal_user_calls_exactly_what_the_portal_role_may(locked_vhost, service_sql):
    """The applicants' web is registered as the principal of role portal and
    its broker grant publishes only that role's calls."""
    portal = locked_vhost["uri"]["portal"]
    for call in ("intake.track", "intake.submit", "intake.rate", "hall.take_ticket"):
        assert assert_allowed(portal, lambda ch, c=call: publish("nameko-rpc", c)(ch) or True), call
    for call in ("intake.get", "intake.report", "review.decide", "fees.pay", "notify.messages", "hall.call_next"):
        assert_refused(portal, publish("nameko-rpc", call))
    assert service_sql("intake", "SELECT role FROM principals WHERE name = 'ow-portal'") == [{"role": "portal"}]
    assert service_sql("intake", "SELECT role FROM principals WHERE name = 'ow-hall'") == [{"role": "service"}]


def test_the_gateway_user_may_relay_every_call(locked_vhost, service_sql):
    """make run's gateway connects as its own user: registered with role
    gateway (so that services honour the principal it names) and granted
    every call, as it relays for every role."""
    gateway = locked_vhost["uri"]["gateway"]
    for call in ("intake.get", "review.decide", "fees.pay", "hall.call_next"):
        assert assert_allowed(gateway, lambda ch, c=call: publish("nameko-rpc", c)(ch) or True), call
    assert service_sql("review", "SELECT role FROM principals WHERE name = 'ow-gateway'") == [{"role": "gateway"}]


def test_the_portal_serves_pages_as_its_own_least_privileged_user(locked_vhost, run_services, platform_env):
    """The portal's container runs on its own grant (its queues, replies,
    events) and intake serves it as the principal of role portal."""
    import requests

    from services.intake.service import IntakeService
    from services.portal.service import PortalService

    portal_user = client.user_of(locked_vhost["uri"]["portal"])
    sandbox.register_principal([platform_env["databases"]["intake"]], portal_user, "portal")
    port = sandbox.free_port()
    run_services(IntakeService, PortalService, intake={"AMQP_URI": locked_vhost["uri"]["intake"]},
                 portal={"AMQP_URI": locked_vhost["uri"]["portal"], "WEB_SERVER_ADDRESS": f"127.0.0.1:{port}"})
    web = requests.Session()
    guide = web.get(f"http://127.0.0.1:{port}/guide?q=户口", timeout=30)
    assert guide.status_code == 200 and "户口迁入" in guide.text
    form = web.get(f"http://127.0.0.1:{port}/track", timeout=30)
    csrf = form.text.split('name="csrf" value="')[1].split('"')[0]
    asked = web.post(f"http://127.0.0.1:{port}/track", data={"csrf": csrf, "application_no": "ZW2026999999",
                                                             "phone": "13800138000"}, timeout=30)
    assert asked.status_code == 200 and "验证码" in asked.text  # intake.track answered the portal: no such case


def test_the_probe_asks_for_health_and_nothing_else(locked_vhost, run_services):
    """What the deployed health checks call as (ow-probe): anonymous calls of
    `health`, refused by the broker anything else."""
    from services.intake.service import IntakeService

    probe = locked_vhost["uri"]["probe"]
    run_services(IntakeService, intake={"AMQP_URI": locked_vhost["uri"]["intake"]})
    with client.caller(probe, timeout=20, anonymous=True) as rpc:
        assert rpc.intake.health()["ok"] is True
    assert_refused(probe, publish("nameko-rpc", "intake.list_items"))
    assert_refused(probe, publish("nameko-rpc", "review.tasks"))
    assert_refused(probe, consume("rpc-intake"))
    assert_refused(probe, consume(queue_of("review", "intake", "application_accepted")))
