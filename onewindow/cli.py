"""`onewindow`: what an operator does by hand.

  onewindow setup            create databases, migrate, declare queues, load samples
  onewindow run              start all four services (Ctrl-C stops them)
  onewindow serve SERVICE    start one service in this process
  onewindow parked list|replay [--service S] [--event-id ID]
  onewindow outbox           events not yet published, per service
  onewindow health [--service S]   can every service (or one) be reached over RPC
  onewindow ledger           prove every fen received is booked to one treasury account
  onewindow calendar load YEAR FILE   load a newly published holiday schedule
  onewindow report [--start D] [--end D]   the centre's headline figures (make report)

Exit status is non-zero on failure; `--json` prints machine-readable output.
"""
import argparse
import json
import os
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


def admin_url():
    from . import config  # noqa: F401
    return os.environ.get("OW_ADMIN_DATABASE_URL", "postgresql://onewindow:onewindow@127.0.0.1:5432/postgres")


def service_db_name(service):
    from psycopg.conninfo import conninfo_to_dict
    from . import config
    return conninfo_to_dict(config.database_url(service))["dbname"]


def setup_all(services=None, quiet=False):
    """Databases, migrations, queues and sample data; safe to run again."""
    import importlib
    from . import config, migrate, topology
    from .db import UnitOfWork, connect_pool

    for service in services or config.SERVICES:
        created = migrate.create_database(admin_url(), service_db_name(service))
        applied = migrate.migrate(service)
        store = importlib.import_module(f"services.{service}.store")
        loaded = ""
        if hasattr(store, "bootstrap"):
            pool = connect_pool(config.database_url(service), min_size=1, max_size=1)
            try:
                with UnitOfWork(pool, service) as unit:
                    loaded = store.bootstrap(unit) or ""
            finally:
                pool.close()
        if not quiet:
            print(f"{service}: database {service_db_name(service)}"
                  f"{' created' if created else ''}, {len(applied)} migrations applied {loaded}")
    subs = topology.declare(config.amqp_uri())
    if not quiet:
        print(f"broker: {len(subs)} event queues declared")


@command("setup", "create databases, apply migrations, declare queues, load the sample catalog")
def cmd_setup(args):
    setup_all()


@command("serve", "run one service in this process")
def cmd_serve(args):
    import eventlet
    eventlet.monkey_patch()
    import importlib
    import logging
    from nameko.runners import ServiceRunner
    from . import config

    logging.basicConfig(level=os.environ.get("OW_LOG_LEVEL", "INFO"),
                        format=f"%(asctime)s {args.service} %(levelname)s %(name)s: %(message)s")
    # py-amqp warns of every publisher confirm that arrives as a pooled channel closes: noise, not news
    logging.getLogger("amqp").setLevel(logging.ERROR)
    module = importlib.import_module(f"services.{args.service}.service")
    cls = next(v for v in vars(module).values() if isinstance(v, type) and getattr(v, "name", None) == args.service)
    runner = ServiceRunner(config.nameko_config(args.service))
    runner.add_service(cls)

    def shutdown(signum, frame):
        eventlet.spawn(runner.stop)

    signal.signal(signal.SIGTERM, shutdown)
    signal.signal(signal.SIGINT, shutdown)
    runner.start()
    runner.wait()


@command("run", "start all four services and print where they are")
def cmd_run(args):
    from . import config

    setup_all()
    procs = {}
    for service in config.SERVICES:
        procs[service] = subprocess.Popen([sys.executable, "-m", "onewindow", "serve", service])
    print("\nOneWindow is running.")
    print(f"  AMQP URI   {config.amqp_uri()}")
    for service in config.SERVICES:
        print(f"  {service:<8}   metrics http://127.0.0.1:{config.metrics_port(service)}/metrics"
              f"   database {service_db_name(service)}")
    print("  `make demo` in another terminal walks one case through. Ctrl-C stops everything.\n")
    stopping = False

    def stop(*_):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    code = 0
    while not stopping:
        for service, proc in procs.items():
            if proc.poll() is not None:
                print(f"{service} exited with status {proc.returncode}; stopping", file=sys.stderr)
                stopping, code = True, 1
        time.sleep(0.5)
    for proc in procs.values():
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.time() + 20
    for proc in procs.values():
        try:
            proc.wait(max(0.1, deadline - time.time()))
        except subprocess.TimeoutExpired:
            proc.kill()
    print("stopped")
    return code


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
    from . import config, inbox
    services = [args.service] if args.service else list(config.SERVICES)
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


@command("outbox", "events recorded but not yet published, per service")
def cmd_outbox(args):
    from . import config
    result = {}
    for service, unit in _units(config.SERVICES):
        row = unit.one("SELECT count(*) AS n, min(created_at) AS oldest FROM outbox WHERE published_at IS NULL")
        result[service] = {"backlog": row["n"], "oldest": row["oldest"]}
    _print(args, result, lambda d: [print(f"{s}: {v['backlog']} waiting, oldest {v['oldest']}") for s, v in d.items()])


@command("health", "ask every service over RPC whether it is up")
def cmd_health(args):
    from nameko.standalone.rpc import ClusterRpcProxy
    from . import config
    result, ok = {}, True
    with ClusterRpcProxy({"AMQP_URI": config.amqp_uri()}, timeout=args.timeout) as rpc:
        for service in [args.service] if getattr(args, "service", None) else config.SERVICES:
            try:
                result[service] = getattr(rpc, service).health()
            except Exception as exc:
                ok = False
                result[service] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    _print(args, result, lambda d: [print(f"{s:<8} {'up' if v.get('ok') else 'DOWN'}  {v}") for s, v in d.items()])
    return 0 if ok else 1


@command("report", "the centre's headline figures for a period (from the intake database)")
def cmd_report(args):
    import datetime
    from services.intake import cases
    from services.intake.store import IntakeStore
    end = args.end or cases.today().isoformat()
    start = args.start or datetime.date.fromisoformat(end).replace(day=1).isoformat()
    for _, unit in _units(["intake"]):
        result = cases.report(IntakeStore(unit), start, end)
    result = dict(result, fees_by_month=_fees_by_month(start, end))
    _print(args, result, lambda d: [print(line) for line in [d["headline"]] + _fees_lines(d["fees_by_month"])])


def _fees_by_month(start, end):
    """One-window fee income per month with year-on-year growth (fees database)."""
    from services.fees import domain
    from services.fees.store import FeesStore
    try:
        first, last = domain.check_period(start, end, "month")
        for _, unit in _units(["fees"]):
            return FeesStore(unit).period_totals(first, last, "month")
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
    from nameko.standalone.rpc import ClusterRpcProxy
    from . import config
    with ClusterRpcProxy({"AMQP_URI": config.amqp_uri()}, timeout=args.timeout) as rpc:
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
    from nameko.standalone.rpc import ClusterRpcProxy
    from . import config
    from .workdays import store_year

    days = read_schedule(args.year, args.file)
    source = pathlib.Path(args.file).name
    result = {"year": args.year, "days": len(days), "holidays": sum(1 for w, _ in days.values() if not w),
              "workdays": sum(1 for w, _ in days.values() if w), "stored_in": [], "recomputed": {}}
    for service, unit in _units(config.SERVICES):
        store_year(unit, args.year, days, source)
        result["stored_in"].append(service)
    # Due dates already promised as provisional are counted again now; a
    # service that does not answer recounts when this command is run again.
    with ClusterRpcProxy({"AMQP_URI": config.amqp_uri()}, timeout=args.timeout) as rpc:
        for service in ("intake", "review"):
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


def parser():
    p = argparse.ArgumentParser(prog="onewindow", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    for name, (fn, help_text) in COMMANDS.items():
        sp = sub.add_parser(name, help=help_text, description=help_text)
        sp.add_argument("--json", action="store_true", help="machine-readable output")
        sp.set_defaults(fn=fn)
        if name == "serve":
            sp.add_argument("service", choices=("intake", "review", "fees", "notify"))
        if name == "parked":
            sp.add_argument("action", choices=("list", "replay"))
            sp.add_argument("--service")
            sp.add_argument("--event-id")
        if name == "health":
            sp.add_argument("--timeout", type=float, default=5)
            sp.add_argument("--service", choices=("intake", "review", "fees", "notify"),
                            help="ask only this service (exit 1 if it does not answer)")
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
            sp.add_argument("--start", help="YYYY-MM-DD, default the first of the month of --end")
            sp.add_argument("--end", help="YYYY-MM-DD, default today")
    return p


def main(argv=None):
    args = parser().parse_args(argv)
    try:
        return args.fn(args) or 0
    except Exception as exc:
        print(f"onewindow {args.command}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
