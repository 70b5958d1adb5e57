"""`onewindow`: what an operator does by hand.

  onewindow setup [--service-users]   create databases, migrate, declare queues, load samples
                             (and each service's own broker user and database role)
  onewindow run              start every service of the centre (Ctrl-C stops them)
  onewindow serve SERVICE    start one service in this process
  onewindow parked list|replay [--service S] [--event-id ID]
  onewindow rejected list [--service S]   messages set aside as not a call or an event
  onewindow principal add NAME --role ROLE [--department CODE]   (password on stdin)
  onewindow principal remove NAME | list
  onewindow retrying [--service S]   events waiting for another attempt, and why
  onewindow outbox           events not yet published, per service
  onewindow purge [--days N] [--service S]   retention: old published/done rows, expired keys, masking
  onewindow health [--service S]   can every service (or one) be reached over RPC
  onewindow ledger           prove every fen received is booked to one treasury account
  onewindow calendar load YEAR FILE   load a newly published holiday schedule
  onewindow report [--start D] [--end D]   the centre's headline figures (make report)
  onewindow principal token NAME [--revoke]   an HTTP gateway token for a principal (shown once)
  onewindow webhook set DEPT URL | remove DEPT | list | dead [DEPT] | redeliver DEPT
  onewindow sandbox create|drop NAME   a sandbox for integrators (sandbox-NAME.env)

Exit status is non-zero on failure; `--json` prints machine-readable output.
"""
import argparse
import contextlib
import gc
import json
import os
import re
import signal
import subprocess
import sys
import time

COMMANDS = {}


def command(name, help_text):
    def register(fn):
        COMMANDS[name] = (fn, help_text)
        return fn
    return register


def _print(args, data, human):
    if getattr(args, "json", False):
        print(json.dumps(data, ensure_ascii=False, indent=2, default=str))
    else:
        human(data)


@command("setup", "create databases, apply migrations, declare queues, load the sample catalog; "
                  "--service-users: also each service's own broker user and database role, ow-probe "
                  "and ow_monitor")
def cmd_setup(args):
    from . import access, config, dbroles
    passwords = operator_passwords(args.centre) if args.service_users else None  # every problem first
    args.centre.set_up()
    if passwords is None:
        return 0
    service_uris(args.centre, {s: broker for s, (broker, _) in passwords["services"].items()})
    service_database_urls(args.centre, {s: database for s, (_, database) in passwords["services"].items()})
    access.apply_grant(vhost_of(config.amqp_uri()), access.user_name(access.PROBE_USER), passwords["probe"],
                       access.probe_grant(args.centre.names))
    dbroles.grant_monitor(config.admin_database_url(), [config.database_name(s) for s in args.centre.names],
                          passwords["monitor"])
    for service in args.centre.names:
        print(f"{service}: broker user {access.user_name(service)}, database role {dbroles.role_name(service)}")
    print(f"readiness probes: broker user {access.user_name(access.PROBE_USER)} (may ask for health only)")
    print(f"postgres_exporter: database role {dbroles.MONITOR_ROLE} (statistics only, no table's rows)")
    return 0


# Passwords go into URIs as they are (docker-compose and the Kubernetes
# Secret write them there), so only characters a URI takes unescaped.
OPERATOR_PASSWORD = re.compile(r"^[A-Za-z0-9._~-]{16,}$")


def operator_passwords(centre):
    """The passwords the operator supplied for `setup --service-users`:
    {"services": {service: (broker, database)}, "probe": ..., "monitor": ...}; ValueError
    naming every one missing or unusable."""
    from . import config
    problems, found = [], {}

    def take(name, value):
        if not value:
            problems.append(f"{name} is not set")
        elif not OPERATOR_PASSWORD.match(value):
            problems.append(f"{name} must be 16 or more letters, digits or . _ ~ - (e.g. openssl rand -hex 16)")
        return value

    for service in centre.names:
        found[service] = (take(config.broker_password.variable(service), config.broker_password(service)),
                          take(config.database_password.variable(service), config.database_password(service)))
    probe = take(config.probe_password.name, config.probe_password())
    monitor = take(config.monitor_password.name, config.monitor_password())
    if problems:
        raise ValueError("setup --service-users needs the operator's passwords: " + "; ".join(problems))
    return {"services": found, "probe": probe, "monitor": monitor}


@command("serve", "run one service in this process")
def cmd_serve(args):
    import eventlet
    eventlet.monkey_patch()
    from nameko.runners import ServiceRunner
    from . import logs

    logs.configure(args.service)
    runner = ServiceRunner(args.centre.nameko_config(args.service))
    runner.add_service(args.centre.service_class(args.service))

    def shutdown(signum, frame):
        eventlet.spawn(runner.stop)

    signal.signal(signal.SIGTERM, shutdown)
    signal.signal(signal.SIGINT, shutdown)
    try:
        runner.start()
    except Exception as exc:
        # A half-started container can hang its own shutdown (a consumer
        # reconnecting to a broker that is not back yet) for minutes: leave
        # at once, so the supervisor starts the service again.
        print(f"onewindow serve {args.service}: could not start: {type(exc).__name__}: {exc}", file=sys.stderr,
              flush=True)
        os._exit(1)
    # What starting made (modules, schemas, the catalog, templates) lives as
    # long as the process: out of the collector's sight, a full collection
    # scans only what the work made since. Unfrozen, each took 45-130 ms of
    # CPU in a busy service, a stall for every call in flight.
    gc.freeze()
    runner.wait()


@command("run", "start every service, restart one that dies (with backoff), print where they are")
def cmd_run(args):
    from . import config, principals

    centre = args.centre
    centre.validate()  # a bad value stops here, not in a service
    centre.set_up()
    databases = service_database_urls(centre)
    web = public_web(centre)
    supervisor = Supervisor({service: ([sys.executable, "-m", "onewindow", "serve", service],
                                       config.environment_with(AMQP_URI=uri, **web, **{
                                           f"{service.upper()}_DATABASE_URL": databases[service]}))
                             for service, uri in service_uris(centre).items()})
    supervisor.start_all()
    print("\nOneWindow is running.")
    for member in centre.members:
        if member.role == principals.PORTAL and centre.web_url(member.name):
            print(f"  The applicants' web (网上办事大厅): {centre.web_url(member.name)}")
    print(f"  AMQP URI   {config.amqp_uri()} (each service connects as its own user, ow-<service>,")
    print("             and to PostgreSQL as its own role, ow_<service>)")
    for service in centre.names:
        print(f"  {service:<8}   metrics http://127.0.0.1:{centre.metrics_port(service)}/metrics"
              f"   database {config.database_name(service)}")
        if centre.web_url(service) and service != "gateway":
            print(f"  {'':<8}   web     {centre.web_url(service)}")
    if "gateway" in centre.names:
        base = f"http://{centre.web_address('gateway').replace('0.0.0.0', '127.0.0.1')}"
        print(f"  {'':<8}   web     {base}/api/v1/<service>/<method> for department systems, with a token "
              f"from `onewindow principal token NAME`; OpenAPI at {base}/api/v1/openapi.json")
    print("  `make demo` in another terminal walks one case through. Ctrl-C stops everything.\n")

    def stop(*_):
        supervisor.stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    supervisor.watch()
    supervisor.stop_all()
    print("stopped")
    return 0


def public_web(centre):
    """The applicants' web of this run, when the centre has one and the
    operator set none: its address (the SMS link to it) and a secret for
    this run that signs the rating links (notify writes, the portal checks)."""
    import secrets
    from . import config, principals
    front = next((m.name for m in centre.members if m.role == principals.PORTAL), None)
    if front is None or not centre.web_url(front):
        return {}
    found = {}
    if not config.portal_url():
        found["OW_PORTAL_URL"] = centre.web_url(front).rstrip("/")
    if not config.portal_secret():
        found["OW_PORTAL_SECRET"] = secrets.token_urlsafe(32)
    return found


def service_uris(centre, passwords=None):
    """Each service's own broker user (`ow-<service>`, the grant access.py
    derives from its code), with the given passwords or fresh ones; the
    topology is declared first by the administrator of AMQP_URI, as those
    users may not."""
    import urllib.parse
    from . import access, config
    admin = config.amqp_uri()
    access.declare_topology(admin, centre)
    users = access.create_service_users(vhost_of(admin), centre, passwords=passwords)
    broker = urllib.parse.urlsplit(admin)
    return {service: access.amqp_uri_for(user, password, vhost_of(admin),
                                          f"{broker.hostname}:{broker.port or 5672}")
            for service, (user, password) in users.items()}


def service_database_urls(centre, passwords=None):
    """Each service's own PostgreSQL role (`ow_<service>`: rows of its own
    database only, see onewindow/dbroles.py), with the given passwords or
    fresh ones; granted after the migrations, so on every table."""
    import secrets
    from . import config, dbroles
    urls = {}
    for service in centre.names:
        role, password = dbroles.role_name(service), (passwords or {}).get(service) or secrets.token_hex(16)
        dbroles.grant(config.database_url(service), config.database_name(service), role, password)
        urls[service] = dbroles.url_for(config.database_url(service), config.database_name(service), role, password)
    return urls


class Supervisor:
    """Keeps each service running: one that exits is started again after a
    backoff (1 s doubling to 60 s) while the others keep serving; one that
    keeps dying is reported as a crash loop on every restart, never hidden.
    A service that stayed up for a minute starts again from the short wait."""

    BACKOFF_START, BACKOFF_MAX, STABLE_SECONDS, CRASH_LOOP = 1.0, 60.0, 60.0, 3

    def __init__(self, commands):
        self.commands = commands  # {name: (argv, environment)}
        self.procs, self.started, self.failures, self.due = {}, {}, {}, {}
        self.restarts = {name: 0 for name in commands}
        self.stopping = False

    def start(self, name):
        argv, env = self.commands[name]
        self.procs[name] = subprocess.Popen(argv, env=env)
        self.started[name] = time.monotonic()

    def start_all(self):
        for name in self.commands:
            self.start(name)

    def check(self):
        now = time.monotonic()
        for name, proc in self.procs.items():
            if name in self.due:
                if now >= self.due[name]:
                    del self.due[name]
                    self.restarts[name] += 1
                    self.start(name)
                continue
            if proc.poll() is None:
                continue
            stable = now - self.started[name] >= self.STABLE_SECONDS
            self.failures[name] = 1 if stable else self.failures.get(name, 0) + 1
            wait = min(self.BACKOFF_MAX, self.BACKOFF_START * 2 ** (self.failures[name] - 1))
            loop = " - CRASH LOOP, see its log" if self.failures[name] >= self.CRASH_LOOP else ""
            print(f"{name} exited with status {proc.returncode} (failure {self.failures[name]} in a row); "
                  f"restarting in {wait:.0f} s{loop}", file=sys.stderr, flush=True)
            self.due[name] = now + wait

    def watch(self, interval=0.5):
        while not self.stopping:
            self.check()
            time.sleep(interval)

    def stop_all(self, grace=20):
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.time() + grace
        for proc in self.procs.values():
            try:
                proc.wait(max(0.1, deadline - time.time()))
            except subprocess.TimeoutExpired:
                proc.kill()


def _units(services):
    from . import config
    from .db import UnitOfWork, connect_pool
    for service in services:
        pool = connect_pool(config.database_url(service), min_size=1, max_size=1)
        try:
            with UnitOfWork(pool, service) as unit:
                yield service, unit
        finally:
            pool.close()


@command("parked", "list or replay events parked after their last retry")
def cmd_parked(args):
    from . import inbox
    services = [args.service] if args.service else list(args.centre.names)
    result = {}
    for service, unit in _units(services):
        if args.action == "replay":
            result[service] = inbox.replay_parked(unit, args.event_id)
        else:
            result[service] = [dict(r, payload=r["payload"]) for r in inbox.list_parked(unit)]

    def human(data):
        for service, value in data.items():
            if args.action == "replay":
                print(f"{service}: {value} event(s) sent back for another round of attempts")
            else:
                print(f"{service}: {len(value)} parked")
                for r in value:
                    print(f"  {r['event_id']}  {r['consumer']}  attempts={r['attempts']}  {r['last_error']}")
    _print(args, result, human)


@command("retrying", "events a handler failed on, waiting for their next attempt")
def cmd_retrying(args):
    from . import inbox
    _rows_per_service(args, inbox.list_retrying, "waiting for a retry",
                      lambda r: f"{r['event_id']}  {r['consumer']}  attempts={r['attempts']}  "
                                f"next={r['next_attempt_at']}  {r['last_error']}")


def _rows_per_service(args, fetch, heading, line):
    """`fetch(unit)` of every service (or --service), printed a line a row."""
    services = [args.service] if args.service else list(args.centre.names)
    result = {service: fetch(unit) for service, unit in _units(services)}

    def human(data):
        for service, rows in data.items():
            print(f"{service}: {len(rows)} {heading}")
            for r in rows:
                print(f"  {line(r)}")
    _print(args, result, human)


@command("outbox", "events recorded but not yet published, per service")
def cmd_outbox(args):
    result = {}
    for service, unit in _units(args.centre.names):
        row = unit.one("SELECT count(*) AS n, min(created_at) AS oldest FROM outbox WHERE published_at IS NULL")
        result[service] = {"backlog": row["n"], "oldest": row["oldest"]}
    _print(args, result, lambda d: [print(f"{s}: {v['backlog']} waiting, oldest {v['oldest']}") for s, v in d.items()])


@command("purge", "retention: remove published outbox rows, done inbox rows and expired idempotency records "
                  "older than --days (OW_RETENTION_DAYS, 7), mask personal data in what is kept longer")
def cmd_purge(args):
    from . import retention
    from .db import Database
    services = [args.service] if args.service else list(args.centre.names)
    result = {}
    for service, unit in _units(services):
        cls = args.centre.service_class(service)
        store = next((d.store for d in vars(cls).values() if isinstance(d, Database)), None)
        result[service] = retention.purge(unit, store(unit) if store else None, args.days)
        result[service] = {"purged": result[service], "tables": retention.table_sizes(unit)}

    def human(data):
        for service, value in data.items():
            purged = value["purged"]
            print(f"{service}: " + ("another replica is purging; skipped" if purged is None else
                                    ", ".join(f"{k} {n}" for k, n in purged.items())))
    _print(args, result, human)


@contextlib.contextmanager
def operator_rpc(centre, timeout):
    """The operator's calls (health, ledger, calendar, report): as the
    principal of OW_OPERATOR_AMQP_URI (role operator, made with `onewindow
    principal add`); in a sandbox or drill, as its operator; else anonymously
    (health only) as the user of OW_PROBE_AMQP_URI or AMQP_URI."""
    from . import config, principals
    from .client import caller
    from .sandbox import env_router
    if config.operator_amqp_uri():
        with caller(config.operator_amqp_uri(), timeout=timeout) as rpc:
            yield rpc
    elif config.caller_amqp_uri():
        with env_router(centre, timeout=timeout) as router:
            yield router.as_role(principals.OPERATOR)
    else:
        with caller(config.probe_amqp_uri() or config.amqp_uri(), timeout=timeout, anonymous=True) as rpc:
            yield rpc


@command("rejected", "list messages set aside because they could not be a call or an event")
def cmd_rejected(args):
    from . import wire
    _rows_per_service(args, lambda unit: wire.list_rejected(unit, args.limit), "rejected (latest first)",
                      lambda r: f"#{r['id']} {r['received_at']:%Y-%m-%d %H:%M:%S} {r['kind']} "
                                f"{r['routing_key']!s:.60} {'answered ' if r['answered'] else ''}"
                                f"{r['reason']!s:.160} ({r['body_bytes']} bytes)")


@command("principal", "add, remove or list the principals who may call (broker users with roles); "
                      "`token NAME [--revoke]` issues (shown once, stored hashed) or revokes an HTTP gateway token")
def cmd_principal(args):
    from . import access, config, principals
    from .entrypoints import rpc_methods
    names = args.centre.names
    if args.action == "token":
        return principal_token(args)
    if args.action == "list":
        for _, unit in _units(names[:1]):
            result = [dict(r) for r in principals.registered(unit)]
        _print(args, result, lambda d: [print(f"{r['name']:<32} {r['role']:<11} {r['department'] or ''}")
                                         for r in d])
        return 0
    if not args.name:
        raise ValueError("name the principal")
    if args.action == "remove":
        access.delete_user(args.name)  # RabbitMQ closes its connections at once
        removed = [service for service, unit in _units(names) if principals.unregister(unit, args.name)]
        print(f"{args.name}: removed from the broker and from {', '.join(removed) or 'no service'}")
        return 0
    problems = principals.check_new(args.name, args.role, args.department)
    if problems:
        raise ValueError("; ".join(problems))
    password = sys.stdin.readline().rstrip("\n")
    if len(password) < 12:
        raise ValueError("give a password of at least 12 characters on standard input")
    vhost = vhost_of(config.amqp_uri())
    access.apply_grant(vhost, args.name, password,
                       access.caller_grant(args.role, rpc_methods(args.centre.classes)))
    for _, unit in _units(names):
        principals.register(unit, args.name, args.role, args.department)
    print(f"{args.name}: role {args.role}{' of ' + args.department if args.department else ''}, "
          f"broker user in vhost {vhost!r}")
    return 0


def vhost_of(amqp_uri):
    import urllib.parse
    path = urllib.parse.urlsplit(amqp_uri).path
    return urllib.parse.unquote(path[1:]) if len(path) > 1 else "/"


@command("health", "ask every service over RPC whether it is up")
def cmd_health(args):
    result, ok = {}, True
    with operator_rpc(args.centre, args.timeout) as rpc:
        for service in [args.service] if getattr(args, "service", None) else args.centre.names:
            try:
                result[service] = getattr(rpc, service).health()
            except Exception as exc:
                ok = False
                result[service] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    _print(args, result, lambda d: [print(f"{s:<8} {'up' if v.get('ok') else 'DOWN'}  {v}") for s, v in d.items()])
    return 0 if ok else 1


@command("report", "the centre's headline figures for a period (asked of intake and fees over RPC)")
def cmd_report(args):
    import datetime
    from .workdays import today
    end = args.end or today().isoformat()
    start = args.start or datetime.date.fromisoformat(end).replace(day=1).isoformat()
    with operator_rpc(args.centre, args.timeout) as rpc:
        result = rpc.intake.report(start, end)
        result = dict(result, fees_by_month=_fees_by_month(rpc, start, end))
    _print(args, result, lambda d: [print(line) for line in [d["headline"]] + _fees_lines(d["fees_by_month"])])


def _fees_by_month(rpc, start, end):
    """One-window fee income per month with year-on-year growth, from fees."""
    try:
        return rpc.fees.totals(start, end, "month")
    except Exception as exc:  # the headline figures still stand without it
        return {"error": f"{type(exc).__name__}: {exc}"}


def _fees_lines(fees):
    if "error" in fees:
        return [f"fees: unavailable ({fees['error']})"]

    def line(label, row):
        growth = "no base a year earlier" if row.get("yoy_growth") is None else f"{row['yoy_growth']:+.1%} year on year"
        return (f"fees {label}: received {row['received_fen'] / 100:,.2f} yuan, refunded "
                f"{row['refunded_fen'] / 100:,.2f}, net {row['net_fen'] / 100:,.2f} ({growth})")

    return [line(r["key"], r) for r in fees["rows"]] + [line("total", fees["total"])]


@command("ledger", "check that every fen received is booked to exactly one treasury account (exit 1 if not)")
def cmd_ledger(args):
    with operator_rpc(args.centre, args.timeout) as rpc:
        result = rpc.fees.check_ledger()

    def human(d):
        print("ledger balanced" if d.get("balanced") else "LEDGER NOT BALANCED")
        for key, value in d.items():
            if key not in ("balanced", "problems"):
                print(f"  {key}: {value}")
        for problem in d.get("problems") or []:
            print(f"  problem: {problem}")
    _print(args, result, human)
    return 0 if result.get("balanced") else 1


def _gateway(args):
    return operator_rpc(args.centre, args.timeout)


def principal_token(args):
    """`principal token NAME [--revoke]`: the HTTP gateway's bearer tokens."""
    with _gateway(args) as rpc:
        if args.revoke:
            result = rpc.gateway.revoke_tokens(args.name)
        else:
            result = rpc.gateway.issue_token(args.name)

    def human(d):
        if "token" in d:
            print(d["token"])
            print(f"(a bearer token for {d['principal']}; only its hash is kept: store it now)", file=sys.stderr)
        else:
            print(f"{d['revoked']} token(s) of {d['principal']} revoked")
    _print(args, result, human)


@command("webhook", "departments' webhooks: set DEPT URL [--secret S], remove DEPT, list, dead [DEPT], "
                    "redeliver DEPT")
def cmd_webhook(args):
    with _gateway(args) as rpc:
        gateway = rpc.gateway
        if args.action == "set":
            result = gateway.set_webhook(args.department, args.url, args.secret)
        elif args.action == "remove":
            result = gateway.remove_webhook(args.department)
        elif args.action == "list":
            result = gateway.webhooks()
        elif args.action == "dead":
            result = gateway.deliveries(args.department, "dead")
        else:
            result = gateway.redeliver(args.department)

    def human(d):
        if isinstance(d, list):
            for row in d:
                print("  ".join(f"{k}={v}" for k, v in row.items()))
            print(f"{len(d)} row(s)")
        else:
            print(json.dumps(d, ensure_ascii=False, default=str))
            if args.action == "set":
                print("(the secret signs every delivery: X-OneWindow-Signature; see services/gateway/README.md)",
                      file=sys.stderr)
    _print(args, result, human)


@command("sandbox", "a sandbox for a department system's integrators: `create NAME` makes a vhost, databases, "
                    "principals with tokens and sample cases and writes sandbox-NAME.env; `drop NAME` removes it")
def cmd_sandbox(args):
    # what fills a sandbox (sample cases) lives beside the other drills, not in the platform
    from scripts import integrator_sandbox
    if args.action == "create":
        result = integrator_sandbox.create(args.centre, args.name, cases=args.cases)
    else:
        result = integrator_sandbox.drop(args.centre, args.name)

    def human(d):
        if args.action == "create":
            print(f"sandbox {d['sandbox']}: vhost {d['vhost']}, {len(d['cases'])} sample cases, "
                  f"{len(d['principals'])} tokens; settings and credentials in {d['env_file']}")
        else:
            print(f"sandbox {d['sandbox']} dropped: {d['dropped']}")
    _print(args, result, human)


def read_schedule(year, path):
    """A published year from a file of 'YYYY-MM-DD workday|holiday [name]'
    lines; ValueError naming every problem, before anything is stored."""
    from .workdays import parse_schedule
    with open(path, encoding="utf-8") as f:
        days = parse_schedule(f.read())
    if not days:
        raise ValueError(f"{path} lists no days: expected the holidays and make-up workdays of {year}")
    outside = sorted(str(d) for d in days if d.year != year)
    if outside:
        raise ValueError(f"days not in {year}: {', '.join(outside)}")
    return days


@command("calendar", "load a newly published year of the State Council holiday schedule into every "
                     "service and recompute provisional due dates")
def cmd_calendar(args):
    import pathlib
    from .workdays import store_year

    days = read_schedule(args.year, args.file)
    source = pathlib.Path(args.file).name
    result = {"year": args.year, "days": len(days), "holidays": sum(1 for w, _ in days.values() if not w),
              "workdays": sum(1 for w, _ in days.values() if w), "stored_in": [], "recomputed": {}}
    for service, unit in _units(args.centre.names):
        store_year(unit, args.year, days, source)
        result["stored_in"].append(service)
    # Due dates already promised as provisional are counted again now; a
    # service that does not answer recounts when this command is run again.
    with operator_rpc(args.centre, args.timeout) as rpc:
        for service in [m.name for m in args.centre.members if hasattr(m.cls, "recompute_provisional")]:
            try:
                result["recomputed"][service] = getattr(rpc, service).recompute_provisional()
            except Exception as exc:
                result["recomputed"][service] = {"error": f"{type(exc).__name__}: {exc}"}

    def human(d):
        print(f"{d['year']}: {d['holidays']} holidays and {d['workdays']} make-up workdays "
              f"stored in {', '.join(d['stored_in'])}")
        for service, value in d["recomputed"].items():
            if isinstance(value, dict) and "error" in value:
                print(f"  {service}: provisional due dates NOT recomputed ({value['error']}); "
                      f"run this command again when it is up")
            else:
                print(f"  {service}: provisional due dates recomputed: {value}")
    _print(args, result, human)
    return 0


def parser(centre):
    p = argparse.ArgumentParser(prog="onewindow", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    for name, (fn, help_text) in COMMANDS.items():
        sp = sub.add_parser(name, help=help_text, description=help_text)
        sp.add_argument("--json", action="store_true", help="machine-readable output")
        sp.set_defaults(fn=fn)
        if name == "serve":
            sp.add_argument("service", choices=centre.names)
        if name == "setup":
            sp.add_argument("--service-users", action="store_true",
                            help="also create each service's broker user ow-<service> and database role "
                                 "ow_<service> with <SERVICE>_BROKER_PASSWORD and <SERVICE>_DATABASE_PASSWORD, "
                                 "the readiness probes' user ow-probe with OW_PROBE_PASSWORD, and postgres_exporter's "
                                 "role ow_monitor with OW_MONITOR_PASSWORD")
        if name == "rejected":
            sp.add_argument("action", choices=("list",))
            sp.add_argument("--service", choices=centre.names)
            sp.add_argument("--limit", type=int, default=100)
        if name == "principal":
            from .principals import REGISTERED_ROLES
            sp.add_argument("action", choices=("add", "remove", "list", "token"))
            sp.add_argument("name", nargs="?", help="the principal (broker user)")
            sp.add_argument("--role", choices=REGISTERED_ROLES)
            sp.add_argument("--department")
            sp.add_argument("--revoke", action="store_true", help="token: revoke every token of NAME instead")
            sp.add_argument("--timeout", type=float, default=10, help="token: seconds to wait for the gateway")
        if name == "parked":
            sp.add_argument("action", choices=("list", "replay"))
            sp.add_argument("--service")
            sp.add_argument("--event-id")
        if name == "retrying":
            sp.add_argument("--service")
        if name == "purge":
            sp.add_argument("--service", choices=centre.names)
            sp.add_argument("--days", type=float, default=None,
                            help="age in days of what goes (default OW_RETENTION_DAYS, 7)")
        if name == "health":
            sp.add_argument("--timeout", type=float, default=5)
            sp.add_argument("--service", choices=centre.names,
                            help="ask only this service (exit 1 if it does not answer)")
        if name == "sandbox":
            sp.add_argument("action", choices=("create", "drop"))
            sp.add_argument("name", help="1-20 lowercase letters, digits or _")
            sp.add_argument("--cases", type=int, default=4, help="sample cases to make (create)")
        if name == "webhook":
            sp.add_argument("action", choices=("set", "remove", "list", "dead", "redeliver"))
            sp.add_argument("department", nargs="?")
            sp.add_argument("url", nargs="?")
            sp.add_argument("--secret", help="at least 16 characters; made up when absent")
            sp.add_argument("--timeout", type=float, default=10, help="seconds to wait for the gateway")
        if name == "ledger":
            sp.add_argument("--timeout", type=float, default=60, help="seconds to wait for fees")
        if name == "calendar":
            sp.add_argument("action", choices=("load",))
            sp.add_argument("year", type=int, help="the year the schedule is for, e.g. 2027")
            sp.add_argument("file", help="text file, one line per holiday or make-up workday: "
                                         "'YYYY-MM-DD holiday|workday [name]'; '#' starts a comment")
            sp.add_argument("--timeout", type=float, default=60,
                            help="seconds to wait for intake and review to recompute")
        if name == "report":
            sp.add_argument("--timeout", type=float, default=60, help="seconds to wait for intake and fees")
            sp.add_argument("--start", help="YYYY-MM-DD, default the first of the month of --end")
            sp.add_argument("--end", help="YYYY-MM-DD, default today")
    return p


def main(argv=None, centre=None):
    """`centre`: the services to work with; by default the installed
    composition root (see onewindow.centre)."""
    import warnings
    warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")
    if (sys.argv[1:] if argv is None else argv)[:1] == ["serve"]:
        # A service runs on eventlet: patch before the centre imports
        # psycopg_pool, which keeps the time.sleep it finds at import. A real
        # one, slept while PostgreSQL recovers, freezes the whole process:
        # the broker drops its handshakes and the service is gone for minutes.
        import eventlet
        eventlet.monkey_patch()
    from . import config
    from .centre import installed
    config.apply_time_zone()
    centre = centre or installed()
    args = parser(centre).parse_args(argv)
    args.centre = centre
    try:
        return args.fn(args) or 0
    except Exception as exc:
        print(f"onewindow {args.command}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
