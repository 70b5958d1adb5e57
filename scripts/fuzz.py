"""Hostile input: property-based fuzzing of every RPC method of the contract.

Payloads come from hypothesis strategies: valid calls built from the live
catalog and from a few seeded cases, the same calls with fields dropped,
replaced or added, and plain hostile values (None, wrong types, huge ints,
floats where fen are expected, SQL fragments, control characters and NUL
bytes, lone surrogates, very long Chinese text, deep nesting, unknown fields).

The only acceptable outcomes are success and the contract's four errors
(ValidationFailed, NotFound, Conflict, Forbidden). Anything else, a timeout
included, is an internal error and is reported with the smallest payload that
caused it. In the first phase every call carries hostile input and the rows of
every service table are counted before and after each mutating call: a
rejected call must leave every count as it was.

    python -m scripts.fuzz [--examples 10000] [--seed N]

runs the four services in their own sandbox and prints JSON figures.
"""
import warnings

warnings.filterwarnings("ignore", message=".*Eventlet is deprecated")
import eventlet  # noqa: E402

eventlet.monkey_patch()

import onewindow  # noqa: E402,F401  (psycopg wait function)

import argparse  # noqa: E402
import collections  # noqa: E402
import copy  # noqa: E402
import datetime  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402

CONTRACT = {
    "intake": ("list_items", "form_for", "due_date", "submit", "supplement", "get", "track", "rate", "report"),
    "review": ("tasks", "decide", "application", "set_roster", "set_absent", "supervise", "extend", "feed",
               "vetoes", "notices", "answer_notice"),
    "fees": ("bill", "pay", "refund", "totals", "check_ledger"),
    "notify": ("messages", "delivery_report"),
}
METHODS = tuple(f"{svc}.{m}" for svc, methods in CONTRACT.items() for m in methods)
# calls that may store something: each rejected one is checked for leftovers
MUTATING = ("intake.submit", "intake.supplement", "intake.rate", "review.decide", "review.set_roster",
            "review.set_absent", "review.extend", "review.answer_notice", "fees.pay", "fees.refund", "notify.delivery_report",
            "review.supervise")  # last: an accepted supervision pass sets off events everywhere
CONTRACT_ERRORS = ("ValidationFailed", "NotFound", "Conflict", "Forbidden")
# principals: the drill registers one per role it calls as, lazily, not the calls themselves
PLATFORM_TABLES = ("inbox", "outbox", "schema_migrations", "principals")

SQL = ("' OR '1'='1", "'; DROP TABLE applications; --", "1; SELECT pg_sleep(30) --", "%s", "%(x)s", "$1",
       "' UNION SELECT usename, passwd FROM pg_shadow --", "\\", "'", '"', "`", "ZW' --", "NULL",
       "1 OR 1=1", "${jndi:ldap://x}", "{{7*7}}", "../../etc/passwd")
CONTROL = "\x00\x01\x02\x07\x08\t\n\x0b\x0c\r\x1b\x7f\x85\u2028\u2029\u202e\ufeff\ufffe"
ODD_NUMBERS = (2 ** 31, 2 ** 31 - 1, -2 ** 31 - 1, 2 ** 63, 2 ** 63 - 1, -2 ** 63 - 1, 2 ** 64, 10 ** 30,
               -(10 ** 30), 10 ** 400)
ODD_FLOATS = (0.5, 100.0, 1e308, -0.0, 1e-320, float("nan"), float("inf"), float("-inf"), 99.99)
ODD_DATES = ("2025-02-30", "2025-13-01", "0000-01-01", "9999-12-31", "10000-01-01", "2025-1-1", "20250101",
             "2025-01-01T00:00:00", "2025-01-01T25:00:00+08:00", "1900-01-01", "2099-12-31", "-2025-01-01",
             "2025-01-01\x00", "２０２５-０１-０１", "today", "")

TASK_STATUSES = ("open", "approved", "rejected", "materials_requested", "deemed_approved", "moot")
DECISIONS = ("approve", "reject", "request_materials")
PAY_METHODS = ("cash", "pos", "unionpay", "online")
GROUPINGS = ("department", "fee_code", "treasury_account", "day", "month")
RECEIPTS = ("delivered", "failed", "sent", "DELIVRD", "UNDELIV")


# --- valid identity numbers ---------------------------------------------------

ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def resident_id(serial=123, born="19900307", region="110101"):
    body = f"{region}{born}{serial % 1000:03d}"
    return body + "10X98765432"[sum(int(d) * w for d, w in zip(body, ID_WEIGHTS)) % 11]


def uscc(body="91110108MA0123456"):
    check = (31 - sum(USCC_CHARS.index(c) * w for c, w in zip(body, USCC_WEIGHTS)) % 31) % 31
    return body + USCC_CHARS[check]


# --- the payloads -----------------------------------------------------------

def hostile_values():
    """Values no well-behaved caller would send."""
    from hypothesis import strategies as st

    long_chinese = st.text(st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF), min_size=300,
                           max_size=6000)
    texts = st.one_of(
        st.text(max_size=40),
        st.sampled_from(SQL),
        st.text(st.sampled_from(CONTROL + "ab1张"), min_size=1, max_size=20),
        st.sampled_from(("\ud800", "a\udfffb", "\x00", "", " ", "\u3000", "null", "None")),
        long_chinese,
        st.sampled_from(ODD_DATES),
        st.builds(lambda n: "政" * n, st.sampled_from((1001, 20000, 200_000))),
    )
    scalars = st.one_of(
        st.none(), st.booleans(),
        st.integers(min_value=-2 ** 70, max_value=2 ** 70), st.sampled_from(ODD_NUMBERS),
        st.floats(allow_nan=True, allow_infinity=True), st.sampled_from(ODD_FLOATS),
        texts,
    )
    keys = st.one_of(st.text(max_size=12), st.sampled_from(("__proto__", "constructor", "$where", "a.b", "",
                                                            "\x00", "client_ref", "status", "id")))
    nested = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                           st.dictionaries(keys, inner, max_size=4)),
                          max_leaves=12)
    deep = st.integers(min_value=20, max_value=400).map(_deep)
    return st.one_of(scalars, nested, deep, st.lists(st.integers(), min_size=1000, max_size=3000))


def _deep(depth):
    value = "x"
    for level in range(depth):
        value = [value] if level % 2 else {"a": value}
    return value


class Context:
    """What a valid call needs: the catalog, forms, and a few real cases."""

    def __init__(self, rpc):
        self.rpc = rpc
        self.items = rpc.intake.list_items()
        self.forms = {item["code"]: rpc.intake.form_for(item["code"])["fields"] for item in self.items}
        self.departments = sorted({d for item in self.items for d in item.get("departments", [])}) or ["SCJG"]
        self.materials = sorted({m["code"] for item in self.items for m in item.get("materials", [])}) or ["M1"]
        self.application_nos = []
        self.phones = ["13800138000"]
        self.task_ids = []
        self.tasks = []  # (task_id, department)
        self.bill_nos = []

    def item(self, code):
        return next(item for item in self.items if item["code"] == code)

    def field_value(self, spec, serial=0):
        kind = spec.get("type")
        return {
            "integer": 1, "amount_fen": 10000, "date": "2025-03-03", "phone": "13800138000",
            "id_number": resident_id(serial), "uscc": uscc(),
            "choice": (spec.get("choices") or ["x"])[0],
        }.get(kind, "测试内容")

    def application(self, code, serial=0, complete=True, client_ref=None, person=True):
        item = self.item(code)
        materials = [m["code"] for m in item.get("materials", []) if complete or not m.get("required")]
        applicant = ({"kind": "person", "name": "张三", "id_number": resident_id(serial), "phone": "13800138000"}
                     if person else
                     {"kind": "enterprise", "name": "某某科技有限公司", "uscc": uscc(), "phone": "13900139000"})
        return {"client_ref": client_ref or f"fuzz-{uuid.uuid4().hex}", "item_code": code, "channel": "window",
                "applicant": applicant,
                "form": {f["name"]: self.field_value(f, serial) for f in self.forms[code]},
                "materials": materials}

    def seed(self, wait):
        """A few real cases, so that valid calls reach deep into the services."""
        for item in self.items[:12]:
            for complete in (True, False):
                for person in (True, False):
                    try:
                        result = self.rpc.intake.submit(self.application(item["code"], complete=complete,
                                                                         person=person))
                    except Exception:
                        continue
                    self.application_nos.append(result["application_no"])
        committed = [n for n in self.application_nos]

        def tasks_and_bills():
            found = 0
            for number in committed:
                try:
                    for task in self.rpc.review.application(number).get("tasks", []):
                        if (task["task_id"], task["department"]) not in self.tasks:
                            self.tasks.append((task["task_id"], task["department"]))
                    found += 1
                except Exception:
                    pass
                try:
                    bill_no = self.rpc.fees.bill(number)["bill_no"]
                    if bill_no not in self.bill_nos:
                        self.bill_nos.append(bill_no)
                except Exception:
                    pass
            return self.tasks and self.bill_nos
        try:
            wait(tasks_and_bills, 20)
        except Exception:
            pass
        self.task_ids = [t for t, _ in self.tasks] or [1]
        self.bill_nos = self.bill_nos or ["B-NONE"]
        self.application_nos = self.application_nos or ["ZW-NONE"]


def call_strategies(ctx, hostile_only=False):
    """{method: strategy of (args, kwargs)}. With hostile_only, at least one
    argument of each call is a hostile value (or a mutated document)."""
    from hypothesis import strategies as st

    bad = hostile_values()
    uid = st.uuids().map(lambda u: f"fuzz-{u.hex}")
    day = st.dates(min_value=datetime.date(1990, 1, 1), max_value=datetime.date(2035, 12, 31)).map(
        lambda d: d.isoformat())
    text = st.text(min_size=1, max_size=60)
    item_code = st.sampled_from([i["code"] for i in ctx.items])
    app_no = st.sampled_from(ctx.application_nos)
    department = st.sampled_from(ctx.departments)
    materials = st.lists(st.sampled_from(ctx.materials), max_size=5)
    task = st.sampled_from(ctx.tasks) if ctx.tasks else st.tuples(st.just(1), department)

    def valid_app():
        return st.builds(lambda code, ref, serial, complete, person:
                         ctx.application(code, serial, complete, ref, person),
                         item_code, uid, st.integers(0, 999), st.booleans(), st.booleans())

    @st.composite
    def mutated(draw, base):
        doc = copy.deepcopy(draw(base))
        for _ in range(draw(st.integers(1, 3))):
            places = list(_places(doc))
            container, key = draw(st.sampled_from(places))
            action = draw(st.sampled_from(("drop", "replace", "replace", "add")))
            if action == "drop" and isinstance(container, dict) and key in container:
                del container[key]
            elif action == "add" and isinstance(container, dict):
                container[draw(st.text(min_size=1, max_size=12))] = draw(bad)
            elif isinstance(container, dict) or (isinstance(container, list) and key < len(container)):
                container[key] = draw(bad)
        return doc

    def mostly(valid, share=7):
        # one_of() would drop a repeated branch: weigh by drawing the branch
        return st.integers(0, 9).flatmap(lambda n: valid if n < share else bad)

    def arg(valid):
        return bad if hostile_only else mostly(valid)

    def call(*positional, optional=None):
        """positional: strategies of the required arguments; optional: {name: strategy}."""
        optional = optional or {}
        kwargs = st.fixed_dictionaries({}, optional={k: arg(v) for k, v in optional.items()})
        if not hostile_only:
            return st.tuples(st.tuples(*(arg(p) for p in positional)), kwargs)
        if not positional:
            return st.tuples(st.just(()), st.fixed_dictionaries({k: bad for k in optional}))

        @st.composite
        def one_bad(draw):
            spoil = draw(st.integers(0, len(positional) - 1))
            values = tuple(draw(bad) if i == spoil else draw(st.one_of(p, bad)) for i, p in enumerate(positional))
            return values, draw(kwargs)
        return one_bad()

    def decide_args():
        def build(t, reviewer, decision, opinion, ref, missing, basis):
            return ((t[0], t[1], reviewer, decision, opinion, ref), {"missing_materials": missing,
                                                                     "legal_basis": basis})
        valid = st.builds(build, task, text, st.sampled_from(DECISIONS), text, uid,
                          st.one_of(st.none(), materials), st.one_of(st.none(), text))
        loose = call(task.map(lambda t: t[0]), department, text, st.sampled_from(DECISIONS), text, uid,
                     optional={"missing_materials": materials, "legal_basis": text})
        return loose if hostile_only else st.integers(0, 9).flatmap(lambda n: valid if n < 6 else loose)

    application = (st.one_of(mutated(valid_app()), st.tuples(bad).map(lambda t: t[0]))
                   if hostile_only else st.integers(0, 9).flatmap(
                       lambda n: valid_app() if n < 4 else mutated(valid_app()) if n < 8 else bad))
    amount = st.one_of(st.integers(0, 10 ** 7), st.floats(0, 1e6), st.sampled_from(ODD_NUMBERS))
    strategies = {
        "intake.list_items": st.just(((), {})),
        "intake.form_for": call(item_code),
        "intake.due_date": call(item_code, day),
        "intake.submit": st.tuples(st.tuples(application), st.just({})),
        "intake.supplement": call(app_no, materials, uid),
        "intake.get": call(app_no),
        "intake.track": call(app_no, st.sampled_from(ctx.phones)),
        "intake.rate": call(app_no, st.integers(-3, 8), optional={"comment": text}),
        "intake.report": call(day, day),
        "review.tasks": call(department, optional={"status": st.sampled_from(TASK_STATUSES)}),
        "review.decide": decide_args(),
        "review.application": call(app_no),
        "review.set_roster": call(department, text, text),
        "review.set_absent": call(department, text, st.booleans()),
        "review.extend": call(task.map(lambda t: t[0]), department, st.integers(-2, 40), text, uid),
        "review.feed": call(department, optional={"after": st.one_of(st.integers(0, 10 ** 6).map(str), text),
                                                  "limit": st.integers(-1, 2000)}),
        "review.vetoes": call(day, day),
        "review.notices": call(optional={"status": st.sampled_from(("open", "answered"))}),
        "review.answer_notice": call(text, text, uid),
        "review.supervise": call(optional={"as_of": st.datetimes(
            min_value=datetime.datetime(2020, 1, 1), max_value=datetime.datetime(2030, 1, 1),
            timezones=st.just(datetime.timezone(datetime.timedelta(hours=8)))).map(lambda d: d.isoformat())}),
        "fees.bill": call(app_no),
        "fees.pay": call(st.sampled_from(ctx.bill_nos), amount, st.sampled_from(PAY_METHODS), uid),
        "fees.refund": call(st.sampled_from(ctx.bill_nos), text, uid),
        "fees.totals": call(day, day, st.sampled_from(GROUPINGS)),
        "fees.check_ledger": st.just(((), {})),
        "notify.messages": call(optional={"application_no": app_no, "phone": st.sampled_from(ctx.phones)}),
        "notify.delivery_report": call(text, st.sampled_from(RECEIPTS)),
    }
    assert set(strategies) == set(METHODS)
    return strategies


def _places(doc):
    """(container, key) of every value in a JSON document, the root's keys included."""
    stack = [doc]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for key, value in node.items():
                yield node, key
                stack.append(value)
            if not node:
                yield node, "extra"
        elif isinstance(node, list):
            for index, value in enumerate(node):
                yield node, index
                stack.append(value)


# --- storage ------------------------------------------------------------------

class RowCounts:
    """Row counts of every service table but the platform's inbox and outbox."""

    def __init__(self, databases):
        import psycopg
        self.connections = {}
        self.queries = {}
        for service, url in databases.items():
            conn = psycopg.connect(url, autocommit=True)
            tables = [r[0] for r in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' "
                "AND table_type = 'BASE TABLE' ORDER BY table_name").fetchall()
                if r[0] not in PLATFORM_TABLES]
            self.connections[service] = conn
            self.queries[service] = " UNION ALL ".join(
                f"SELECT '{t}', count(*) FROM \"{t}\"" for t in tables) if tables else None

    def snapshot(self):
        counts = {}
        for service, conn in self.connections.items():
            if self.queries[service]:
                for table, n in conn.execute(self.queries[service]).fetchall():
                    counts[f"{service}.{table}"] = n
        return counts

    def pending(self):
        """Events not yet published or waiting for a retry anywhere."""
        total = 0
        for conn in self.connections.values():
            total += conn.execute("SELECT (SELECT count(*) FROM outbox WHERE published_at IS NULL) + "
                                  "(SELECT count(*) FROM inbox WHERE status = 'retry')").fetchone()[0]
        return total

    def close(self):
        for conn in self.connections.values():
            conn.close()


def queued_events(amqp_uri):
    from kombu import Connection

    from services.registry import CENTRE
    total = 0
    with Connection(amqp_uri, connect_timeout=10) as conn:
        channel = conn.channel()
        for _, _, queue in CENTRE.subscriptions():
            try:
                total += channel.queue_declare(queue, passive=True).message_count
            except Exception:
                channel = conn.channel()
    return total


def settle(counts, amqp_uri, timeout=30.0, quiet=1.0):
    """Wait until nothing is in flight and the row counts stay still for `quiet` s."""
    deadline = time.monotonic() + timeout
    last, since = None, time.monotonic()
    while time.monotonic() < deadline:
        now = counts.snapshot()
        busy = counts.pending() or queued_events(amqp_uri)
        if busy or now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return True
        time.sleep(0.1)
    return False


# --- the run --------------------------------------------------------------------

def describe(value, limit=120):
    """A readable, bounded rendering of a payload."""
    if isinstance(value, str):
        if len(value) > limit:
            return f"<str of {len(value)} chars starting {value[:20]!r}>"
        # lone surrogates cannot be printed as UTF-8: show them escaped
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, (list, tuple)):
        if len(value) > 20:
            return f"<list of {len(value)} starting {[describe(v, limit) for v in value[:3]]}>"
        return [describe(v, limit) for v in value]
    if isinstance(value, dict):
        return {str(k)[:limit]: describe(v, limit) for k, v in list(value.items())[:30]}
    if isinstance(value, int) and abs(value) > 10 ** 20:
        return f"<int of {len(str(abs(value)))} digits>"
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return repr(value)
    return value


def _size(args, kwargs):
    try:
        return len(json.dumps([args, kwargs], default=str))
    except Exception:
        return len(repr([args, kwargs]))


class Fuzzer:
    def __init__(self, rpc, databases, amqp_uri, log=None, settle_timeout=120.0):
        self.rpc = rpc
        self.settle_timeout = settle_timeout
        self.amqp_uri = amqp_uri
        self.counts = RowCounts(databases)
        self.log = log or (lambda *a: None)
        self.sent = collections.Counter()
        self.outcomes = collections.defaultdict(collections.Counter)
        self.internal = {}   # (method, exc_type) -> finding
        self.stored = []     # rejected calls that left rows behind
        self.check = collections.Counter()
        self.checking = False
        self.baseline = None
        self.timings = {}

    def invoke(self, method, args, kwargs):
        from nameko.exceptions import RemoteError, RpcTimeout

        service, name = method.split(".")
        check = self.checking and method in MUTATING
        if check and self.baseline is None:
            self.baseline = self.counts.snapshot()
        self.sent[method] += 1
        message = ""
        try:
            getattr(getattr(self.rpc, service), name)(*args, **kwargs)
            outcome = "ok"
        except RemoteError as exc:
            outcome, message = exc.exc_type, str(exc.value)
        except RpcTimeout:
            outcome, message = "timeout", "no reply in time"
        except Exception as exc:  # the caller's side failed: still reported
            outcome, message = f"client:{type(exc).__name__}", str(exc)
        self.outcomes[method][outcome] += 1
        if outcome != "ok" and outcome not in CONTRACT_ERRORS:
            self._internal(method, outcome, message, args, kwargs)
        if check:
            self.check["calls"] += 1
            if outcome == "ok" or outcome == "timeout":
                # accepted (or still running): let its effects land, re-count
                self.check["accepted" if outcome == "ok" else "timed_out"] += 1
                settle(self.counts, self.amqp_uri, timeout=self.settle_timeout)
                self.baseline = self.counts.snapshot()
            else:
                self.check["rejected"] += 1
                after = self.counts.snapshot()
                if after != self.baseline:
                    self._leftovers(method, outcome, args, kwargs, after)
        return outcome

    def _leftovers(self, method, outcome, args, kwargs, after):
        """Rows appeared during a rejected call. Rows in the called service's
        own tables are its doing; rows only elsewhere are other services still
        working through earlier events (checked by waiting for quiet)."""
        changed = {k: [self.baseline.get(k), after.get(k)] for k in set(after) | set(self.baseline)
                   if after.get(k) != self.baseline.get(k)}
        own = {k: v for k, v in changed.items() if k.split(".")[0] == method.split(".")[0]}
        settle(self.counts, self.amqp_uri, timeout=self.settle_timeout)
        self.baseline = self.counts.snapshot()
        if own:
            self.stored.append({"method": method, "outcome": outcome, "tables": own,
                                "payload": describe({"args": args, "kwargs": kwargs})})
        else:
            self.check["background_changes"] += 1

    def _internal(self, method, outcome, message, args, kwargs):
        key = (method, outcome, message.split("\n")[0][:60])
        size = _size(args, kwargs)
        found = self.internal.get(key)
        if found is None:
            found = self.internal[key] = {"method": method, "exc_type": outcome, "count": 0, "size": None}
            self.log(f"internal error: {method} -> {outcome}: {message[:200]}")
        found["count"] += 1
        if found["size"] is None or size < found["size"]:
            found.update(size=size, message=message[:500], payload=describe({"args": args, "kwargs": kwargs}))

    def run_method(self, method, strategy, examples, seed):
        from hypothesis import HealthCheck, Phase, given, settings
        from hypothesis import seed as fix_seed

        @settings(max_examples=examples, phases=[Phase.generate], database=None, deadline=None,
                  suppress_health_check=list(HealthCheck), report_multiple_bugs=False)
        @given(strategy)
        def fuzz(call):
            args, kwargs = call
            self.invoke(method, args, kwargs)

        if seed is not None:
            fuzz = fix_seed(seed)(fuzz)
        started, before = time.monotonic(), self.sent[method]
        fuzz()
        self.timings[method] = self.timings.get(method, 0) + time.monotonic() - started
        self.log(f"{method}: {self.sent[method] - before} payloads in {time.monotonic() - started:.1f}s")

    def run(self, examples, seed=None, rejection_share=0.3):
        started = time.monotonic()
        ctx = Context(self.rpc)
        ctx.seed(lambda predicate, timeout: _wait(predicate, timeout))
        self.log(f"seeded {len(ctx.application_nos)} cases, {len(ctx.tasks)} tasks, {len(ctx.bill_nos)} bills")
        settled = settle(self.counts, self.amqp_uri)
        # phase 1: hostile calls of the mutating methods, each checked for leftovers
        rejections = max(len(MUTATING), int(examples * rejection_share))
        hostile = call_strategies(ctx, hostile_only=True)
        self.checking = True
        for method in MUTATING:
            self.run_method(method, hostile[method], max(1, rejections // len(MUTATING)), seed)
        self.checking = False
        self.log(f"rejection phase: {dict(self.check)} in {time.monotonic() - started:.1f}s")
        # phase 2: every method, valid and hostile payloads mixed
        broad = call_strategies(ctx)
        remaining = max(len(METHODS), examples - sum(self.sent.values()))
        # methods without arguments have one payload only; share their budget
        fixed = ("intake.list_items", "fees.check_ledger")
        per_method = max(1, (remaining - 2 * len(fixed)) // (len(METHODS) - len(fixed)))
        for method in METHODS:
            self.run_method(method, broad[method], 2 if method in fixed else per_method, seed)
        self.counts.close()
        totals = collections.Counter()
        for counter in self.outcomes.values():
            totals.update(counter)
        return {
            "payloads": sum(self.sent.values()),
            "seconds": round(time.monotonic() - started, 1),
            "payloads_per_method": dict(self.sent),
            "outcomes": dict(totals),
            "outcomes_per_method": {m: dict(c) for m, c in self.outcomes.items()},
            "internal_errors": sorted(({k: v for k, v in f.items() if k != "size"}
                                       for f in self.internal.values()),
                                      key=lambda f: (f["method"], f["exc_type"])),
            "rejection_check": dict(self.check, settled_before=settled, stored_by_rejected_calls=len(self.stored)),
            "stored_by_rejected_calls": self.stored,
            "seed_cases": {"applications": len(ctx.application_nos), "tasks": len(ctx.tasks),
                           "bills": len(ctx.bill_nos)},
        }


def _wait(predicate, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=10_000, help="payloads in total (default 10000)")
    parser.add_argument("--seed", type=int, default=None, help="hypothesis seed, for a repeatable run")
    parser.add_argument("--timeout", type=float, default=15.0, help="seconds before a call counts as hung")
    args = parser.parse_args(argv)

    import logging

    from nameko.runners import ServiceRunner
    from onewindow.sandbox import Sandbox
    from services.registry import CENTRE

    logging.basicConfig(level=logging.CRITICAL)  # services log every refused call
    os.environ["OW_QUIET_HOURS"] = ""  # SMS go out at any hour, so nothing lingers queued
    for service in CENTRE.names:
        os.environ[f"{service.upper()}_METRICS_PORT"] = ""
    log = lambda line: print(line, file=sys.stderr, flush=True)  # noqa: E731
    sandbox = Sandbox(CENTRE, "owf").open()
    runners = []
    try:
        for cls in CENTRE.classes:
            cfg = CENTRE.nameko_config(cls.name)
            cfg["METRICS_PORT"] = None
            runner = ServiceRunner(cfg)
            runner.add_service(cls)
            runner.start()
            runners.append(runner)
        with sandbox.router(timeout=args.timeout) as rpc:
            figures = Fuzzer(rpc, sandbox.databases, sandbox.amqp_uri, log).run(args.examples, args.seed)
        print(json.dumps(figures, ensure_ascii=False, indent=2, default=str))
        return 1 if figures["internal_errors"] or figures["stored_by_rejected_calls"] else 0
    finally:
        for runner in reversed(runners):
            try:
                runner.stop()
            except Exception:
                runner.kill()
        sandbox.close()


if __name__ == "__main__":
    sys.exit(main())
