"""`make chaos`: replay cases while RabbitMQ, PostgreSQL and the services are
killed at random moments and one service stays down for a long while; then
drain, check against independent witnesses and print figures.

The drill runs its own RabbitMQ node (port 5673) and its own PostgreSQL
cluster (port 5433) in a temporary directory, so it can kill them freely
without touching the machine's own servers. It needs root (to run them as the
rabbitmq and postgres users) and Debian's rabbitmq-server and postgresql.

Faults, each kind at least --faults times: SIGKILL of the broker's Erlang VM
and a clean broker restart, SIGKILL of PostgreSQL's postmaster and every
backend (a crash, no shutdown), SIGKILL of each service (a supervisor starts
it again), and one long outage of one service (--outage-service, default
fees) while cases keep arriving.

The services run as their own least-privilege broker users (onewindow.access);
the drill calls them as a department-like user and watches events as an
observer user. Witnesses outside the system's own word: the local SMS
provider writes every send attempt to a SQLite file outside notify (the
"sent twice" count), and the fen the cashier paid are compared with fees'
totals and the ledger. A case not concluded by --deadline seconds after the
last arrival counts as lost; workload errors and parked events fail the run;
the drill replays nothing.

Options: --cases N (default 2000), --faults K, --concurrency C, --seed S,
--window, --outage, --deadline. Prints JSON; exits 1 when anything was lost,
applied or sent twice, parked, failed in the workload, or does not add up.
"""
import eventlet

eventlet.monkey_patch()

import argparse  # noqa: E402
import datetime  # noqa: E402
import glob  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402

import psycopg  # noqa: E402
from psycopg.rows import dict_row  # noqa: E402

from onewindow import access, config, dbroles  # noqa: E402
from onewindow.cli import service_database_urls  # noqa: E402
from onewindow.sandbox import tag_impersonator  # noqa: E402
from services.notify.providers import sink_figures  # noqa: E402
from services.registry import CENTRE  # noqa: E402

BROKER_PORT = 5673
PG_PORT = 5433
BROKER = f"127.0.0.1:{BROKER_PORT}"


def answers(port):
    import socket
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def wait_port(port, up=True, timeout=90):
    deadline = time.time() + timeout
    while answers(port) != up:
        if time.time() > deadline:
            raise RuntimeError(f"port {port} did not come {'up' if up else 'down'} in {timeout}s")
        time.sleep(0.3)


def pids_with_cwd(directory):
    """Processes working in `directory` (PostgreSQL's postmaster and backends
    run in their data directory): this drill's own servers, found by pid."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.readlink(f"/proc/{entry}/cwd") == directory:
                    found.append(int(entry))
            except OSError:
                pass
    return found


class PrivateBroker:
    def __init__(self, root):
        self.dir = os.path.join(root, "rabbitmq")
        os.makedirs(self.dir)
        with open(os.path.join(self.dir, "rabbitmq.conf"), "w") as f:
            f.write(f"listeners.tcp.local = {BROKER}\nloopback_users = none\n")
        shutil.chown(self.dir, "rabbitmq", "rabbitmq")
        self.node = f"owchaos{os.getpid()}@localhost"
        self.env = dict(os.environ, RABBITMQ_NODENAME=self.node, RABBITMQ_NODE_PORT=str(BROKER_PORT),
                        RABBITMQ_DIST_PORT=str(25673), RABBITMQ_MNESIA_BASE=f"{self.dir}/mnesia",
                        RABBITMQ_LOG_BASE=f"{self.dir}/log", RABBITMQ_PID_FILE=f"{self.dir}/pid",
                        RABBITMQ_ENABLED_PLUGINS_FILE=f"{self.dir}/plugins",
                        RABBITMQ_CONFIG_FILE=f"{self.dir}/rabbitmq")

    def start(self):
        subprocess.run(["rabbitmq-server", "-detached"], env=self.env, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd="/tmp")
        wait_port(BROKER_PORT, timeout=120)

    def stop(self):
        subprocess.run(["rabbitmqctl", "-n", self.node, "stop"], env=self.env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
        wait_port(BROKER_PORT, up=False)

    def restart(self):
        self.stop()
        self.start()

    def pid(self):
        result = subprocess.run(["rabbitmqctl", "-n", self.node, "-q", "eval", "os:getpid()."], env=self.env,
                                capture_output=True, text=True, timeout=60)
        match = re.search(r"\d+", result.stdout)
        if not match:
            raise RuntimeError(f"no pid of the drill's broker: {result.stderr.strip()}")
        return int(match.group())

    def kill(self):
        """SIGKILL the Erlang VM: no clean shutdown, no flush; then start it again."""
        os.kill(self.pid(), signal.SIGKILL)
        wait_port(BROKER_PORT, up=False)
        self.start()


class PrivatePostgres:
    def __init__(self, root):
        self.dir = os.path.join(root, "postgresql")
        os.makedirs(self.dir)
        shutil.chown(self.dir, "postgres", "postgres")
        self.bin = sorted(glob.glob("/usr/lib/postgresql/*/bin"))[-1]
        self.data = os.path.join(self.dir, "data")
        subprocess.run(["runuser", "-u", "postgres", "--", f"{self.bin}/initdb", "-D", self.data, "-A", "trust",
                        "-U", "onewindow"], check=True, stdout=subprocess.DEVNULL, cwd="/tmp")

    def pg_ctl(self, *args, check=True):
        return subprocess.run(["runuser", "-u", "postgres", "--", f"{self.bin}/pg_ctl", "-D", self.data, *args],
                              check=check, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd="/tmp")

    def start(self):
        # after a SIGKILL the old backends may hold shared memory a moment longer
        for _ in range(60):
            if self.pg_ctl("-o", f"-p {PG_PORT} -k {self.dir} -c listen_addresses=127.0.0.1 "
                                 f"-c max_connections=400", "-l", f"{self.dir}/log", "-w", "start",
                           check=False).returncode == 0:
                return
            time.sleep(1)
        raise RuntimeError("the drill's PostgreSQL did not start again")

    def stop(self, mode="immediate"):
        self.pg_ctl("-m", mode, "-w", "stop")

    def kill(self):
        """SIGKILL the postmaster and every backend at once: a crash (power
        cut, OOM killer), recovered from the WAL at the next start."""
        for pid in pids_with_cwd(os.path.realpath(self.data)):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        wait_port(PG_PORT, up=False)
        self.start()


class Services:
    """The services, each in its own process as its own broker user and
    database role, watched like a process supervisor would (systemd,
    Kubernetes): one that exits is started again and counted. A service in
    its long outage stays down."""

    def __init__(self, log_dir, uris, databases):
        self.procs = {}
        self.log_dir = log_dir
        self.uris = uris
        self.databases = {s: {f"{s.upper()}_DATABASE_URL": url} for s, url in databases.items()}
        self.exits = []
        self.down = set()
        for service in CENTRE.names:
            self.start(service)
        self.watcher = eventlet.spawn(self.watch)

    def start(self, service):
        env = dict(os.environ, AMQP_URI=self.uris[service], **self.databases[service],
                   **{f"{s.upper()}_METRICS_PORT": "" for s in CENTRE.names})
        log = open(os.path.join(self.log_dir, f"{service}.log"), "ab")
        self.procs[service] = subprocess.Popen([sys.executable, "-m", "onewindow", "serve", service], env=env,
                                               stdout=log, stderr=subprocess.STDOUT)

    def watch(self):
        while True:
            for service, proc in list(self.procs.items()):
                if service not in self.down and proc.poll() is not None and proc.returncode != -signal.SIGKILL:
                    self.exits.append({"service": service, "status": proc.returncode})
                    self.start(service)
            eventlet.sleep(0.5)

    def kill(self, service):
        self.procs[service].send_signal(signal.SIGKILL)
        self.procs[service].wait()
        self.start(service)

    def take_down(self, service):
        self.down.add(service)
        self.procs[service].send_signal(signal.SIGKILL)
        self.procs[service].wait()

    def bring_up(self, service):
        self.start(service)
        self.down.discard(service)

    def stop(self):
        self.watcher.kill()
        for p in self.procs.values():
            p.terminate()
        for p in self.procs.values():
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()


def query(service, sql, params=None):
    with psycopg.connect(config.database_url(service), row_factory=dict_row) as conn:
        return conn.execute(sql, params).fetchall()


def count(service, sql, params=None):
    return query(service, sql, params)[0]["n"]


def observer_grant():
    """The drill's eyes (the applicant's phone, the cashier's screen): its
    own tap queues, bound to the event types the workload waits for."""
    from scripts.workload import EventTap
    sources = sorted({source for source, _ in EventTap.BINDINGS})
    tap = r"workload-tap-[0-9a-f]+"
    exchanges = [re.escape(f"{s}.events") for s in sources]
    topics = {f"{s}.events": ("^$", "^(" + "|".join(k for src, k in EventTap.BINDINGS if src == s) + ")$")
              for s in sources}
    return access.Grant(configure=f"^({tap}|{'|'.join(exchanges)})$", write=f"^{tap}$",
                        read=f"^({tap}|{'|'.join(exchanges)})$", topics=topics)


def make_users():
    """Every service as its own user; the drill as a department system that
    may call every service, and as an observer of the events it waits for."""
    admin = access.amqp_uri_for("guest", "guest", "/", BROKER)
    access.declare_topology(admin, CENTRE)
    users = access.create_service_users("/", CENTRE, prefix="ow")
    uris = {service: access.amqp_uri_for(user, password, "/", BROKER) for service, (user, password) in users.items()}
    caller = access.create_department_user("/", "drill", CENTRE.names)
    tag_impersonator(caller[0])  # calls as each principal in turn (onewindow.sandbox.env_router)
    observer = ("ow-drill-observer", "observer-" + os.urandom(8).hex())
    access.apply_grant("/", *observer, observer_grant())
    return uris, access.amqp_uri_for(*caller, "/", BROKER), access.amqp_uri_for(*observer, "/", BROKER)


def schedule_faults(rng, per_kind, window, outage_service, outage):
    """[(at, kind, target)]: every kind per_kind times at random moments of
    the window, one long outage in its first half; the outage service's own
    kills come after its outage."""
    outage_at = 0.15 * window
    moments = [(outage_at, "outage", outage_service)]
    for kind in ("broker_kill", "broker_restart", "database_kill"):
        moments += [(rng.uniform(0.05, 0.85) * window, kind, None) for _ in range(per_kind)]
    for service in CENTRE.names:
        for _ in range(per_kind):
            at = rng.uniform(0.05, 0.85) * window
            if service == outage_service and outage_at - 5 <= at <= outage_at + outage + 5:
                at = outage_at + outage + 5 + rng.uniform(0, 0.1 * window)
            moments.append((at, "service_kill", service))
    return sorted(moments)


def main(argv=None):
    from scripts.workload import Centre, ProxyPool, plan_month

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=2000)
    parser.add_argument("--faults", type=int, default=3, help="faults of each kind (default 3)")
    parser.add_argument("--concurrency", type=int, default=30)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--logs", default=None, help="folder for the services' logs (default: a new temp folder)")
    parser.add_argument("--window", type=float, default=None,
                        help="seconds over which cases arrive and faults strike (default: cases / 8, at least 60)")
    parser.add_argument("--outage-service", default="fees", choices=CENTRE.names,
                        help="the service that stays down for --outage seconds while cases arrive")
    parser.add_argument("--outage", type=float, default=None,
                        help="seconds of the long outage (default: 40%% of the window)")
    parser.add_argument("--deadline", type=float, default=300.0,
                        help="seconds after the last arrival by which every case must be concluded")
    args = parser.parse_args(argv)
    if os.geteuid() != 0 or not shutil.which("rabbitmq-server") or not glob.glob("/usr/lib/postgresql/*/bin/initdb"):
        print("make chaos needs root and Debian's rabbitmq-server and postgresql: "
              "apt-get install -y rabbitmq-server postgresql", file=sys.stderr)
        return 2

    for port in (BROKER_PORT, PG_PORT):
        if answers(port):
            print(f"port {port} is taken: a drill is running, or one was left over; stop it first", file=sys.stderr)
            return 2
    # a polite stop (Ctrl-C, SIGTERM) still removes the drill's servers
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    rng = random.Random(args.seed)
    root = tempfile.mkdtemp(prefix="owchaos-")
    os.chmod(root, 0o755)
    log_dir = args.logs or tempfile.mkdtemp(prefix="owchaos-logs-")
    os.makedirs(log_dir, exist_ok=True)
    sink = os.path.join(log_dir, "sms-sink.sqlite")
    broker, pg = PrivateBroker(root), PrivatePostgres(root)
    broker.start()
    pg.start()
    os.environ.update({
        # rabbitmqctl (users, grants) talks to the drill's node, never the machine's
        "RABBITMQ_NODENAME": broker.node,
        "AMQP_URI": access.amqp_uri_for("guest", "guest", "/", BROKER),
        "OW_ADMIN_DATABASE_URL": f"postgresql://onewindow@127.0.0.1:{PG_PORT}/postgres",
        "OW_QUIET_HOURS": "", "OW_SMS_SEND_INTERVAL": "0.3", "OW_RETRY_BASE_SECONDS": "0.5",
        "SMS_PROVIDER": "local", "OW_SMS_SINK": sink,
        # the replayed applicants rate from the portal's link in the last SMS
        "OW_PORTAL_URL": os.environ.get("OW_PORTAL_URL", "http://127.0.0.1:8000"),
        # without it no SMS carries a rating link, and no applicant rates
        "OW_PORTAL_SECRET": os.environ.get("OW_PORTAL_SECRET") or uuid.uuid4().hex,
        **{f"{s.upper()}_DATABASE_URL": f"postgresql://onewindow@127.0.0.1:{PG_PORT}/onewindow_{s}"
           for s in CENTRE.names},
    })
    services = None
    applied = []
    figures = {}
    try:
        CENTRE.set_up(quiet=True)
        uris, caller_uri, observer_uri = make_users()
        # and each its own database role (rows of its own database only), as deployed
        services = Services(log_dir, uris, service_database_urls(CENTRE))
        pool = ProxyPool(caller_uri, 2)
        for s in CENTRE.names:
            pool.call(s, "health", retry_for=90)
        items, _ = pool.call("intake", "list_items")
        pool.close()
        plans = plan_month(items, args.cases, args.seed)
        centre = Centre(caller_uri, plans, args.concurrency, tap_uri=observer_uri)
        centre.prepare()
        # Submissions are paced over the whole window, so every fault lands
        # while cases are arriving and in flight, not after the last one.
        window = args.window or max(60.0, args.cases / 8)
        outage = args.outage if args.outage is not None else 0.4 * window
        schedule = schedule_faults(rng, args.faults, window, args.outage_service, outage)
        started = time.monotonic()

        def strike(at, kind, target):
            struck = round(time.monotonic() - started, 1)
            if kind == "broker_kill":
                broker.kill()
                applied.append({"at": struck, "fault": "SIGKILL RabbitMQ, started again"})
            elif kind == "broker_restart":
                broker.restart()
                applied.append({"at": struck, "fault": "restart RabbitMQ (clean stop)"})
            elif kind == "database_kill":
                pg.kill()
                applied.append({"at": struck, "fault": "SIGKILL PostgreSQL (postmaster and backends), started again"})
            elif kind == "service_kill":
                services.kill(target)
                applied.append({"at": struck, "fault": f"SIGKILL {target}, started again"})
            elif kind == "outage":
                services.take_down(target)
                eventlet.sleep(outage)
                services.bring_up(target)
                applied.append({"at": struck, "fault": f"{target} down for {outage:.0f}s while cases arrive"})

        def inject():
            waiting = []
            for at, kind, target in schedule:
                eventlet.sleep(max(0, started + at - time.monotonic()))
                if kind == "outage":  # runs beside the other faults
                    waiting.append(eventlet.spawn(strike, at, kind, target))
                else:
                    strike(at, kind, target)
            for g in waiting:
                g.wait()

        injector = eventlet.spawn(inject)
        elapsed = centre.run(pace=args.cases / window, deadline=args.deadline)
        centre.rpc.close()
        injector.wait()
        settled = settle(args.deadline)
        figures = check(plans, centre, applied, elapsed, sink, settled, caller_uri)
        figures["faults_struck_while_cases_were_in_flight"] = sum(f["at"] < elapsed for f in applied)
        figures["services_exited_and_restarted"] = services.exits
        figures["least_privilege"] = {"services": {s: access.user_name(s) for s in CENTRE.names},
                                      "database_roles": {s: dbroles.role_name(s) for s in CENTRE.names},
                                      "workload_calls_as": access.department_user_name("drill"),
                                      "events_watched_as": "ow-drill-observer"}
        figures["logs"] = log_dir
    finally:
        if services:
            services.stop()
        for stop in (broker.stop, pg.stop):
            try:
                stop()
            except Exception:
                pass
        shutil.rmtree(root, ignore_errors=True)
    print(json.dumps(figures, indent=2, ensure_ascii=False, default=str), flush=True)
    return 1 if figures.get("failed_because") or not figures else 0


def settle(deadline):
    """Wait (up to `deadline` s) until nothing is left in flight: every
    outbox published, no event retrying or waiting, no SMS queued or being
    sent. Nothing is replayed: what is parked stays parked and is counted."""
    stop_at = time.time() + deadline
    while True:
        # an event type no service listens to is refused by the broker and
        # kept (unroutable): not in flight, reported apart
        left = {s: count(s, "SELECT (SELECT count(*) FROM outbox WHERE published_at IS NULL "
                           "        AND coalesce(last_error, '') NOT LIKE 'unroutable%%') + "
                           "(SELECT count(*) FROM inbox WHERE status IN ('retry', 'waiting')) AS n")
                for s in CENTRE.names}
        left["sms_in_flight"] = count("notify", "SELECT count(*) AS n FROM messages "
                                                "WHERE status IN ('queued', 'sending')")
        if not any(left.values()) or time.time() > stop_at:
            return {k: v for k, v in left.items() if v}
        time.sleep(1)


def where_is(application_no):
    """Where a case stood when the drill gave up on it, as each service saw it."""
    def first(service, sql):
        rows = query(service, sql, (application_no,))
        return rows[0] if rows else None
    return {
        "application_no": application_no,
        "intake": first("intake", "SELECT status, bill_status FROM applications WHERE application_no = %s"),
        "review_open_tasks": first("review", "SELECT count(*) AS n FROM tasks WHERE application_no = %s "
                                             "AND status = 'open'"),
        "fees_bill": first("fees", "SELECT status FROM bills WHERE application_no = %s"),
        "sms": [r["template"] + ":" + r["status"] for r in query(
            "notify", "SELECT template, status FROM messages WHERE application_no = %s ORDER BY created_at",
            (application_no,))],
    }


def check(plans, centre, applied, elapsed, sink, still_in_flight, caller_uri):
    from scripts.workload import ProxyPool
    accepted = [p for p in plans if p.application_no]
    known = {r["application_no"] for r in query("intake", "SELECT application_no FROM applications")}
    lost = [p.application_no or f"plan {p.n}" for p in plans
            if p.application_no is None or p.application_no not in known]
    # lost also: accepted, but not concluded (as the applicant saw it) by the deadline
    unconcluded = [p.application_no for p in accepted if p.outcome is None]
    stuck = [where_is(no) for no in unconcluded[:10]]
    # a task is decided once, and once more after each restart (补正 supplemented)
    decided_twice = count("review", "SELECT count(*) AS n FROM (SELECT task_id FROM history "
                                    "WHERE action IN ('decided', 'deemed_approved', 'restarted') GROUP BY task_id "
                                    "HAVING count(*) FILTER (WHERE action <> 'restarted') "
                                    "> 1 + count(*) FILTER (WHERE action = 'restarted')) t")
    booked_twice = count("fees", "SELECT count(*) AS n FROM (SELECT bill_no, kind FROM journal_entries "
                                 "GROUP BY bill_no, kind HAVING count(*) > 1) t")
    duplicates = sum(count(s, "SELECT coalesce(sum(duplicates), 0) AS n FROM inbox") for s in CENTRE.names)
    unroutable = {f"{r['service']}.{r['event_type']}": r["n"] for s in CENTRE.names for r in query(
        s, "SELECT %s AS service, event_type, count(*) AS n FROM outbox WHERE published_at IS NULL "
           "AND last_error LIKE 'unroutable%%' GROUP BY event_type", (s,))}
    parked = {s: count(s, "SELECT count(*) AS n FROM inbox WHERE status = 'parked'") for s in CENTRE.names}
    witness = sink_figures(sink)
    notify_sent = count("notify", "SELECT count(*) AS n FROM messages WHERE status IN ('sent', 'delivered')")
    pool = ProxyPool(caller_uri, 1)
    ledger, _ = pool.call("fees", "check_ledger")
    today = datetime.date.today()
    totals, _ = pool.call("fees", "totals", (today - datetime.timedelta(days=2)).isoformat(),
                          (today + datetime.timedelta(days=2)).isoformat(), "department")
    pool.close()
    paid = sum(p.paid_fen for p in plans)
    fees_match = paid == totals["total"]["received_fen"] == ledger["received_fen"] == ledger["treasury_fen"]
    figures = {
        "cases_submitted": len(plans),
        "cases_accepted_by_intake": len(accepted),
        "concluded": len(accepted) - len(unconcluded),
        "lost": len(lost) + len(unconcluded),
        "lost_examples": (lost + unconcluded)[:5],
        "where_the_unconcluded_were": stuck,
        "applied_twice": {"case_decided_twice": decided_twice, "fen_booked_twice": booked_twice},
        "independent_sms_sink": {"sends": witness["sends"],
                                 "sent_twice_for_one_event": witness["sent_twice_for_one_event"],
                                 "attempts": witness["attempts"],
                                 "out_ids_asked_more_than_once": witness["out_ids_asked_more_than_once"],
                                 "notify_says_sent": notify_sent},
        "paid_fen": {"cashier": paid, "fees_totals": totals["total"]["received_fen"],
                     "ledger_received": ledger["received_fen"], "ledger_treasury": ledger["treasury_fen"]},
        "fees_totals_match_payments": fees_match,
        "ledger": {"balanced": ledger["balanced"], "problems": ledger.get("problems", [])[:5]},
        "submit_attempts_failed_and_told": sum(p.submit_failures for p in plans),
        "duplicate_deliveries_absorbed": duplicates,
        "events_parked": sum(parked.values()),
        "events_parked_by_service": {s: n for s, n in parked.items() if n},
        "events_replayed_by_the_drill": 0,
        "still_in_flight_at_the_deadline": still_in_flight,
        "events_no_service_listens_to": unroutable,
        "workload_errors": len(centre.errors),
        "workload_error_examples": [repr(e) for e in centre.errors[:5]],
        "faults": applied,
        "seconds": round(elapsed, 1),
    }
    reasons = []
    if figures["lost"]:
        reasons.append("cases lost or not concluded by the deadline")
    if decided_twice or booked_twice:
        reasons.append("applied twice")
    if witness["sent_twice_for_one_event"]:
        reasons.append("an SMS reached a phone twice for one event")
    if witness["sends"] != notify_sent:
        reasons.append("notify's sent SMS and the provider's witness disagree")
    if not fees_match or not ledger["balanced"]:
        reasons.append("paid fen, fees' totals and the ledger disagree")
    if figures["events_parked"]:
        reasons.append("events parked")
    if centre.errors:
        reasons.append("workload errors")
    if still_in_flight:
        reasons.append("still in flight at the deadline")
    figures["failed_because"] = reasons
    return figures


if __name__ == "__main__":
    code = main()
    # the connections of drivers abandoned at the deadline (and their
    # threads) must not hold the exit once the figures are out
    sys.stderr.flush()
    os._exit(code)
