"""A simulated centre for benchmarks and drills: window clerks submitting a
planned mix of cases, department systems deciding over RPC, the cashier taking
payment, applicants rating — every call through the public contract, retried
with the same idempotency key when the transport fails (which is how a real
client survives a broker restart)."""
import random
import time
import uuid
from dataclasses import dataclass, field

import eventlet
from eventlet.queue import Empty, LightQueue
from kombu import Connection, Exchange, Queue, binding
from nameko.exceptions import RemoteError

from onewindow import principals
from onewindow.entrypoints import rpc_methods
from onewindow.sandbox import env_router
from scripts.sample import application
from services.registry import CENTRE

CONTRACT_ERRORS = {"ValidationFailed", "NotFound", "Conflict", "Forbidden"}


@dataclass
class CasePlan:
    n: int
    item_code: str
    kind: str
    leave_out_material: bool = False
    reject: bool = False
    score: int = 5
    # filled in while it runs
    application_no: str = None
    submit_seconds: float = None
    accepted_at: float = None  # wall clock (epoch seconds) when the submit's answer came
    submit_failures: int = 0
    started: float = None
    concluded: float = None
    outcome: str = None
    paid_fen: int = 0
    rated: bool = False
    sms_done: float = None
    # the case's texts as the applicant's phone hears of them (message_status), by message_id
    heard: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)


def plan_month(items, cases, seed=2026, instant_share=0.673, reject_share=0.02, materials_share=0.05,
               satisfied_share=0.99):
    """The centre's mix: instant items, committed items with one to five
    departments, some rejected, some needing materials once, all rated."""
    rng = random.Random(seed)
    instant = [i for i in items if i["kind"] == "instant" and i["materials"]]
    committed = [i for i in items if i["kind"] == "committed" and i["materials"]]
    n_instant = round(cases * instant_share)
    n_reject = round(cases * reject_share)
    n_materials = round(cases * materials_share)
    n_unhappy = cases - round(cases * satisfied_share)
    plans = []
    for n in range(cases):
        item = rng.choice(instant if n < n_instant else committed)
        plans.append(CasePlan(n, item["code"], item["kind"]))
    committed_plans = [p for p in plans if p.kind == "committed"]
    for p in rng.sample(committed_plans, min(n_reject, len(committed_plans))):
        p.reject = True
    for p in rng.sample(plans, n_materials):
        p.leave_out_material = True
    for p in rng.sample(plans, n_unhappy):
        p.score = 2
    rng.shuffle(plans)
    return plans


class CallLost(Exception):
    """No answer, not even a timeout, long after the call's own timeout."""


class ProxyPool:
    """Connections of the drill's caller (`amqp_uri`, a user tagged
    impersonator) that call each method as a principal whose role may call
    it (onewindow.sandbox.env_router)."""

    def __init__(self, amqp_uri, size, timeout=30):
        self.caller_uri = amqp_uri
        self.timeout = timeout
        self.size = size
        self.free = LightQueue()
        for _ in range(size):
            self.free.put(None)

    def open(self):
        """Connect every caller now, side by side: else the first calls of a
        run each carry their connection's set-up (a broker connection and a
        reply queue), and a run's first burst measures the driver."""
        def connected(holder):
            try:
                return holder or env_router(CENTRE, timeout=self.timeout, uri=self.caller_uri).start()
            except Exception:
                return None  # connected on first use, as without open()
        holders = list(eventlet.GreenPool(self.size).imap(connected, [self.free.get() for _ in range(self.size)]))
        for holder in holders:
            self.free.put(holder)
        opened = next((h for h in holders if h is not None), None)
        if opened is not None:  # and register the principals the calls go as (departments: on first use)
            for role in sorted({r for m in rpc_methods(CENTRE.classes).values() for r in m.roles}
                               - {principals.DEPARTMENT, principals.ANONYMOUS}):
                opened.as_role(role)

    def call(self, service, method, *args, retry_for=300.0, **kwargs):
        """One RPC; transport failures are retried with the same arguments
        (and so the same idempotency key) on a fresh connection."""
        deadline = time.monotonic() + retry_for
        failures = 0
        while True:
            holder = self.free.get()
            try:
                if holder is None:
                    holder = env_router(CENTRE, timeout=self.timeout, uri=self.caller_uri).start()
                # a reply lost with a killed broker must not hold this caller
                # (and its connection) for ever: past its timeout it is a failure
                with eventlet.Timeout(self.timeout + 15, CallLost(f"{service}.{method}")):
                    result = getattr(getattr(holder, service), method)(*args, **kwargs)
                self.free.put(holder)
                return result, failures
            except RemoteError as exc:
                self.free.put(holder)
                if exc.exc_type in CONTRACT_ERRORS:
                    raise
                failures += 1  # an internal error: a fault drill may cause one (e.g. database down)
            except Exception:
                failures += 1
                try:
                    if holder is not None:
                        holder.stop()
                except Exception:
                    pass
                self.free.put(None)
            if time.monotonic() > deadline:
                raise TimeoutError(f"{service}.{method} kept failing for {retry_for}s")
            eventlet.sleep(min(2.0, 0.1 * 2 ** min(failures, 5)))

    def close(self):
        while not self.free.empty():
            holder = self.free.get()
            if holder is not None:
                try:
                    holder.stop()
                except Exception:
                    pass


class EventTap:
    """What the applicant's phone and the cashier's screen learn: a private
    queue bound to the events that move a case on, so drivers wait instead of
    polling. After a broker restart the tap reconnects; drivers also poll
    now and then, so an event missed meanwhile costs only a few seconds."""

    BINDINGS = [("intake", "application_completed"), ("review", "materials_requested"),
                ("fees", "bill_issued"), ("notify", "message_statuses")]

    def __init__(self, amqp_uri):
        self.amqp_uri = amqp_uri
        self.waiters = {}
        self.running = False
        self.ready = eventlet.event.Event()

    def waiter(self, application_no):
        return self.waiters.setdefault(application_no, LightQueue())

    def start(self):
        self.running = True
        self.thread = eventlet.spawn(self._loop)
        self.ready.wait()

    def stop(self):
        self.running = False
        self.thread.wait()

    def _loop(self):
        name = f"workload-tap-{uuid.uuid4().hex[:8]}"
        while self.running:
            try:
                with Connection(self.amqp_uri, heartbeat=10) as conn:
                    queue = Queue(name, exclusive=True, auto_delete=True, bindings=[
                        binding(Exchange(f"{src}.events", type="topic", durable=True), routing_key=kind)
                        for src, kind in self.BINDINGS])
                    with conn.Consumer(queue, callbacks=[self._on_message], accept=["json"]):
                        if not self.ready.ready():
                            self.ready.send(True)
                        while self.running:
                            try:
                                conn.drain_events(timeout=0.5)
                            except TimeoutError:
                                conn.heartbeat_check()
            except Exception:
                eventlet.sleep(1)

    def _on_message(self, body, message):
        kind = message.delivery_info.get("routing_key")
        # notify tells several texts' statuses at once: each goes to its case as one text's
        told = ([("message_status", m) for m in body.get("messages") or [] if isinstance(m, dict)]
                if kind == "message_statuses" and isinstance(body, dict) else [(kind, body)])
        for kind, body in told:
            number = body.get("application_no") if isinstance(body, dict) else None
            if number is not None:
                self.waiter(number).put((kind, body))
        message.ack()


class Centre:
    def __init__(self, amqp_uri, plans, concurrency=20, tag=None, poll=0.25, tap_uri=None):
        """`tap_uri`: the broker user that watches events, when the callers'
        own user may not (a department system never reads event queues)."""
        self.plans = plans
        self.concurrency = concurrency
        self.tag = tag or uuid.uuid4().hex[:6]
        self.poll = poll
        self.rpc = ProxyPool(amqp_uri, concurrency + 16)
        self.tap = EventTap(tap_uri or amqp_uri)
        self.by_number = {}
        self.work_calls = 0
        self.polls = {}
        self.running = False
        self.errors = []

    def call(self, service, method, *args, **kwargs):
        """A call that does case work (submit, supplement, decide, pay, rate)."""
        result, _ = self.rpc.call(service, method, *args, **kwargs)
        self.work_calls += 1
        return result

    def ask(self, service, method, *args, **kwargs):
        """A status poll: not counted as case work."""
        key = f"{service}.{method}"
        self.polls[key] = self.polls.get(key, 0) + 1
        return self.rpc.call(service, method, *args, **kwargs)[0]

    def prepare(self):
        items, _ = self.rpc.call("intake", "list_items")
        self.items = {i["code"]: i for i in items}
        self.forms = {}
        for code in {p.item_code for p in self.plans}:
            form, _ = self.rpc.call("intake", "form_for", code)
            self.forms[code] = form["fields"] if isinstance(form, dict) else form

    def run(self, pace=None, deadline=None):
        """Drive every planned case to its end; `pace` (cases per second)
        spaces the submissions instead of keeping `concurrency` in flight.
        `deadline`: seconds after the last submission to wait for the rest;
        a case still going then is abandoned (its plan has no outcome)."""
        self.running = True
        self.rpc.open()  # before the clock starts
        self.tap.start()
        departments = sorted({d for p in self.plans for d in self.items[p.item_code]["departments"]
                              if p.kind == "committed"})
        deciders = [eventlet.spawn(self.department_system, d) for d in departments]
        pool = eventlet.GreenPool(self.concurrency if pace is None else 10_000)
        started = time.perf_counter()
        for i, plan in enumerate(self.plans):
            if pace:
                delay = started + i / pace - time.perf_counter()
                if delay > 0:
                    eventlet.sleep(delay)
            pool.spawn(self.drive, plan)
        with eventlet.Timeout(deadline, False):
            pool.waitall()
        for driver in list(pool.coroutines_running):
            driver.kill()  # past the deadline: counted as not concluded by the caller
        elapsed = time.perf_counter() - started
        self.running = False
        with eventlet.Timeout(60, False):  # a decider stuck in a call is not waited for past that
            for g in deciders:
                g.wait()
        for g in deciders:
            g.kill()
        self.tap.stop()
        return elapsed

    def drive(self, plan):
        try:
            self._drive(plan)
        except Exception as exc:  # recorded, reported, never silent
            plan.notes.append(f"{type(exc).__name__}: {exc}")
            self.errors.append((plan.n, repr(exc)))

    def _drive(self, plan):
        item = self.items[plan.item_code]
        app, missing = application(item, self.forms[plan.item_code], f"wl-{self.tag}-{plan.n}",
                                   phone=f"139{plan.n % 100_000_000:08d}",
                                   leave_out_materials=1 if plan.leave_out_material else 0)
        plan.started = time.perf_counter()
        t = time.perf_counter()
        result, plan.submit_failures = self.rpc.call("intake", "submit", app)
        self.work_calls += 1
        plan.submit_seconds = time.perf_counter() - t
        plan.accepted_at = time.time()
        plan.application_no = number = result["application_no"]
        self.by_number[number] = plan
        events = self.tap.waiter(number)
        if result["status"] == "needs_materials":
            self.call("intake", "supplement", number, [m["code"] for m in result["missing_materials"]],
                      f"wl-{self.tag}-{plan.n}-s")
        paid, supplements = False, 0
        while plan.outcome is None:
            kind, body = self._next(events, plan)
            if kind is None:  # nothing heard for a while: look
                record = self.ask("intake", "track", number, app["applicant"]["phone"])
                if record["status"] == "awaiting_payment" and not paid and self._has_bill(number):
                    kind, body = "bill_issued", self.ask("fees", "bill", number)
                elif record["status"] == "needs_materials" and record.get("awaiting_materials"):
                    kind, body = "materials_requested", {"missing_materials": record["awaiting_materials"]}
                elif record["status"] in ("completed", "rejected"):
                    kind, body = "application_completed", {"status": record["status"]}
            if kind == "bill_issued" and not paid:
                self.call("fees", "pay", body["bill_no"], body["total_fen"], "pos", f"wl-{self.tag}-{plan.n}-pay")
                plan.paid_fen, paid = body["total_fen"], True
            elif kind == "materials_requested" and body.get("stage") != "intake":
                supplements += 1
                codes = [m["code"] if isinstance(m, dict) else m for m in body["missing_materials"]]
                self.call("intake", "supplement", number, codes, f"wl-{self.tag}-{plan.n}-s{supplements}")
            elif kind == "application_completed":
                plan.outcome = body["status"]
                plan.concluded = time.perf_counter()
        try:
            self.call("intake", "rate", number, plan.score)
        except RemoteError as exc:
            if exc.exc_type != "Conflict":  # rated before a retry: fine
                raise
        plan.rated = True
        while True:
            kind, body = self._next(events, plan)
            if kind is None:  # nothing heard for a while (the tap reconnecting): look
                messages = self.ask("notify", "messages", number)
            elif kind == "message_status" and body.get("template") == "rating_invitation":
                messages = list(plan.heard.values())
            else:
                continue
            if any(m["template"] == "rating_invitation" and m["status"] in ("sent", "delivered") for m in messages):
                plan.sms_done = time.perf_counter()
                plan.messages = messages
                self.tap.waiters.pop(number, None)
                return

    def _next(self, events, plan, timeout=5.0):
        """The next event of the case, or (None, None) after `timeout`; the
        texts it tells of are kept as the phone heard them: the applicant
        need not ask notify for the case's messages, which load notify as no
        real phone would."""
        try:
            kind, body = events.get(timeout=timeout)
        except Empty:
            return None, None
        if kind == "message_status" and body.get("message_id"):
            seen = plan.heard.setdefault(body["message_id"], {"message_id": body["message_id"], "sent_at": None})
            seen.update(template=body.get("template"), status=body.get("status"))
            if body.get("status") == "sent" and not seen["sent_at"]:
                seen["sent_at"] = body.get("at")
        return kind, body

    def _has_bill(self, number):
        try:
            self.rpc.call("fees", "bill", number)
            return True
        except RemoteError as exc:
            if exc.exc_type == "NotFound":
                return False
            raise

    def department_system(self, department):
        """A department's own system as the contract advises: it follows the
        department's feed (what changed since its cursor, not every open
        task again) and decides each open task of the replayed cases; one it
        could not decide is tried again on the next round."""
        cursor, pending, decided = None, {}, set()
        while self.running:
            try:
                page = self.ask("review", "feed", department, cursor)
            except Exception as exc:
                self.errors.append((department, repr(exc)))
                eventlet.sleep(1)
                continue
            cursor = page["cursor"]
            for task in page["tasks"]:
                if task["task_id"] not in decided:
                    if task["status"] == "open":
                        pending[task["task_id"]] = task
                    else:  # closed meanwhile (the case was concluded): nothing to decide
                        pending.pop(task["task_id"], None)
            # Only this run's cases are decided. A task may come before the
            # answer to its case's submit has reached the window that sent it:
            # it waits here, past the cursor, until the case is known.
            mine = [task for task in pending.values() if task["application_no"] in self.by_number]
            for task in mine:
                plan = self.by_number[task["application_no"]]
                lead = self.items[plan.item_code]["departments"][0]
                ref = f"wl-{self.tag}-{task['task_id']}"
                try:
                    if plan.reject and department == lead:
                        self.call("review", "decide", task["task_id"], department, task["assignee"], "reject",
                                  "不符合法定条件", ref, None, "《行政许可法》第三十八条")
                    else:
                        self.call("review", "decide", task["task_id"], department, task["assignee"], "approve",
                                  "同意", ref)
                    decided.add(task["task_id"])
                except RemoteError as exc:
                    if exc.exc_type == "Conflict":  # the case was closed meanwhile (moot) or decided by a retry
                        decided.add(task["task_id"])
                    else:
                        self.errors.append((department, repr(exc)))
                except Exception as exc:  # recorded; the department's system keeps working the next task
                    self.errors.append((department, repr(exc)))
                if task["task_id"] in decided:
                    pending.pop(task["task_id"], None)
            eventlet.sleep(0.1 if page["tasks"] or mine else 0.5)
