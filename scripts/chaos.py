"""`make chaos`: replay cases while RabbitMQ, PostgreSQL and the services are
killed and restarted at random moments; then drain, check and print figures.

The drill runs its own RabbitMQ node (port 5673) and its own PostgreSQL
cluster (port 5433) in a temporary directory, so it can kill them freely
without touching the machine's own servers. It needs root (to run them as the
rabbitmq and postgres users) and Debian's rabbitmq-server and postgresql.

Options: --cases N (default 2000), --faults K (each kind at least K times,
default 3), --concurrency C, --seed S. Prints JSON; exits 1 when anything was
lost or applied twice, or the ledger does not balance.
"""
import eventlet

eventlet.monkey_patch()

import argparse  # noqa: E402
import glob  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import psycopg  # noqa: E402
from psycopg.rows import dict_row  # noqa: E402

from onewindow import config  # noqa: E402

BROKER_PORT = 5673
PG_PORT = 5433


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


class PrivateBroker:
    def __init__(self, root):
        self.dir = os.path.join(root, "rabbitmq")
        os.makedirs(self.dir)
        with open(os.path.join(self.dir, "rabbitmq.conf"), "w") as f:
            f.write(f"listeners.tcp.local = 127.0.0.1:{BROKER_PORT}\nloopback_users = none\n")
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
        wait_port(BROKER_PORT)

    def stop(self):
        subprocess.run(["rabbitmqctl", "-n", self.node, "stop"], env=self.env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
        wait_port(BROKER_PORT, up=False)

    def restart(self):
        self.stop()
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

    def pg_ctl(self, *args):
        subprocess.run(["runuser", "-u", "postgres", "--", f"{self.bin}/pg_ctl", "-D", self.data, *args],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd="/tmp")

    def start(self):
        self.pg_ctl("-o", f"-p {PG_PORT} -k {self.dir} -c listen_addresses=127.0.0.1 -c max_connections=400",
                    "-l", f"{self.dir}/log", "-w", "start")

    def stop(self, mode="immediate"):
        self.pg_ctl("-m", mode, "-w", "stop")

    def restart(self):
        self.stop()  # immediate: a crash, not a polite shutdown
        self.start()


class Services:
    """The four services, each in its own process, watched like a process
    supervisor would (systemd, Kubernetes): one that exits is started again
    and counted."""

    def __init__(self, log_dir):
        self.procs = {}
        self.log_dir = log_dir
        self.exits = []
        for service in config.SERVICES:
            self.start(service)
        self.watcher = eventlet.spawn(self.watch)

    def start(self, service):
        env = dict(os.environ, **{f"{s.upper()}_METRICS_PORT": "" for s in config.SERVICES})
        log = open(os.path.join(self.log_dir, f"{service}.log"), "ab")
        self.procs[service] = subprocess.Popen([sys.executable, "-m", "onewindow", "serve", service], env=env,
                                               stdout=log, stderr=subprocess.STDOUT)

    def watch(self):
        while True:
            for service, proc in list(self.procs.items()):
                if proc.poll() is not None and proc.returncode != -signal.SIGKILL:
                    self.exits.append({"service": service, "status": proc.returncode})
                    self.start(service)
            eventlet.sleep(0.5)

    def kill(self, service):
        self.procs[service].send_signal(signal.SIGKILL)
        self.procs[service].wait()
        self.start(service)

    def stop(self):
        self.watcher.kill()
        for p in self.procs.values():
            p.terminate()
        for p in self.procs.values():
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()


def query(service, sql):
    with psycopg.connect(config.database_url(service), row_factory=dict_row) as conn:
        return conn.execute(sql).fetchall()


def faults_schedule(rng, kinds, per_kind, window):
    moments = [(rng.uniform(0.05, 0.85) * window, kind) for kind in kinds for _ in range(per_kind)]
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
                        help="seconds over which cases arrive and faults strike (default: cases / 8, at least 30)")
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
    broker, pg = PrivateBroker(root), PrivatePostgres(root)
    broker.start()
    pg.start()
    os.environ.update({
        "AMQP_URI": f"amqp://guest:guest@127.0.0.1:{BROKER_PORT}/",
        "OW_ADMIN_DATABASE_URL": f"postgresql://onewindow@127.0.0.1:{PG_PORT}/postgres",
        "OW_QUIET_HOURS": "", "OW_SMS_SEND_INTERVAL": "0.3", "OW_RETRY_BASE_SECONDS": "0.5",
        **{f"{s.upper()}_DATABASE_URL": f"postgresql://onewindow@127.0.0.1:{PG_PORT}/onewindow_{s}"
           for s in config.SERVICES},
    })
    from onewindow.cli import setup_all
    services = None
    applied = []
    try:
        setup_all(quiet=True)
        services = Services(log_dir)
        pool = ProxyPool(config.amqp_uri(), 2)
        for s in config.SERVICES:
            pool.call(s, "health", retry_for=90)
        items, _ = pool.call("intake", "list_items")
        pool.close()
        plans = plan_month(items, args.cases, args.seed)
        centre = Centre(config.amqp_uri(), plans, args.concurrency)
        centre.prepare()
        # Submissions are paced over the whole window, so every fault lands
        # while cases are arriving and in flight, not after the last one.
        window = args.window or max(30.0, args.cases / 8)
        schedule = faults_schedule(rng, ["broker", "database", "service"], args.faults, window)

        def inject():
            started = time.monotonic()
            for at, kind in schedule:
                eventlet.sleep(max(0, started + at - time.monotonic()))
                if kind == "broker":
                    broker.restart()
                    applied.append({"at": round(at, 1), "fault": "restart RabbitMQ"})
                elif kind == "database":
                    pg.restart()
                    applied.append({"at": round(at, 1), "fault": "restart PostgreSQL (immediate)"})
                else:
                    victim = rng.choice(config.SERVICES)
                    services.kill(victim)
                    applied.append({"at": round(at, 1), "fault": f"SIGKILL {victim}, started again"})

        injector = eventlet.spawn(inject)
        elapsed = centre.run(pace=args.cases / window)
        injector.wait()

        # drain: whatever was parked during the faults gets one more round
        parked = sum(query(s, "SELECT count(*) AS n FROM inbox WHERE status = 'parked'")[0]["n"]
                     for s in config.SERVICES)
        if parked:
            from onewindow.db import UnitOfWork, connect_pool
            from onewindow.inbox import replay_parked
            for s in config.SERVICES:
                p = connect_pool(config.database_url(s), min_size=1, max_size=1)
                with UnitOfWork(p, s) as unit:
                    replay_parked(unit)
                p.close()
            deadline = time.time() + 120
            while time.time() < deadline and sum(
                    query(s, "SELECT count(*) AS n FROM inbox WHERE status <> 'done'")[0]["n"]
                    for s in config.SERVICES):
                time.sleep(1)
        figures = check(plans, centre, applied, elapsed, parked)
        figures["faults_struck_while_cases_were_in_flight"] = sum(f["at"] < elapsed for f in applied)
        figures["services_exited_and_restarted"] = services.exits
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
    print(json.dumps(figures, indent=2, ensure_ascii=False))
    bad = figures["lost"] or sum(figures["applied_twice"].values()) or not figures["ledger"]["balanced"]
    return 1 if bad else 0


def check(plans, centre, applied, elapsed, parked):
    from scripts.workload import ProxyPool
    accepted = [p for p in plans if p.application_no]
    known = {r["application_no"] for r in query("intake", "SELECT application_no FROM applications")}
    concluded = {r["application_no"] for r in query(
        "intake", "SELECT application_no FROM applications WHERE status IN ('completed', 'rejected')")}
    lost = [p.application_no for p in accepted if p.application_no not in known]
    unconcluded = [p.application_no for p in accepted if p.application_no not in concluded]
    decided_twice = query("review", "SELECT count(*) AS n FROM (SELECT task_id FROM decisions "
                                    "GROUP BY task_id HAVING count(*) > 1) t")[0]["n"]
    booked_twice = query("fees", "SELECT count(*) AS n FROM (SELECT bill_no, kind FROM journal_entries "
                                 "GROUP BY bill_no, kind HAVING count(*) > 1) t")[0]["n"]
    sms_twice = query("notify", "SELECT count(*) AS n FROM (SELECT message_id FROM message_attempts "
                                "WHERE outcome = 'sent' GROUP BY message_id HAVING count(*) > 1) t")[0]["n"]
    duplicates = sum(query(s, "SELECT coalesce(sum(duplicates), 0) AS n FROM inbox")[0]["n"] for s in config.SERVICES)
    pool = ProxyPool(config.amqp_uri(), 1)
    ledger, _ = pool.call("fees", "check_ledger")
    pool.close()
    return {
        "cases_submitted": len(plans),
        "cases_accepted_by_intake": len(accepted),
        "concluded": len(concluded & {p.application_no for p in accepted}),
        "lost": len(lost) + len(unconcluded),
        "lost_examples": (lost + unconcluded)[:5],
        "applied_twice": {"case_decided_twice": decided_twice, "fen_booked_twice": booked_twice,
                          "sms_sent_twice_for_one_message": sms_twice},
        "submit_attempts_failed_and_told": sum(p.submit_failures for p in plans),
        "duplicate_deliveries_absorbed": duplicates,
        "events_parked": parked,
        "events_replayed": parked,
        "workload_errors": centre.errors[:5],
        "faults": applied,
        "seconds": round(elapsed, 1),
        "ledger": {"balanced": ledger["balanced"], "problems": ledger.get("problems", [])[:5]},
    }


if __name__ == "__main__":
    sys.exit(main())
