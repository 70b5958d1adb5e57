"""Configuration: every environment variable OneWindow reads, declared once
with its default and its type, and checked together at start.

A setting is declared with `Setting(NAME, default, parse)` (or `PerService`
for `<SERVICE>_...` variables) and read by calling it: `config.amqp_uri()`,
`config.database_url("fees")`. A service declares its own settings the same
way in its own module; all of them land in `SETTINGS`, and
`SETTINGS.validate()` (run before any service starts) names every bad value
at once instead of failing the first request that reads one. A value in a
service's container config (tests pass overrides there) wins over the
environment.
"""
import os
import zoneinfo


class ConfigError(ValueError):
    """One or more settings have values that cannot be used."""


class Settings:
    """The one registry of declared settings."""

    def __init__(self):
        self.declared = {}

    def add(self, setting):
        known = self.declared.get(setting.name)
        if known is not None and (known.default, known.parse) != (setting.default, setting.parse):
            raise ConfigError(f"{setting.name} is declared twice, differently")
        self.declared[setting.name] = setting
        return setting

    def problems(self, services=()):
        found = []
        for setting in self.declared.values():
            for probe in setting.probes(services):
                try:
                    probe()
                except ConfigError as exc:
                    found.append(str(exc))
        return found

    def validate(self, services=()):
        """Raise ConfigError naming every setting whose value is unusable."""
        found = self.problems(services)
        if found:
            raise ConfigError("bad configuration: " + "; ".join(found))


SETTINGS = Settings()


class Setting:
    """One environment variable: `NAME`, its default (a string, as it would
    be written in the environment) and how it is parsed."""

    def __init__(self, name, default, parse=str, doc=""):
        self.name, self.default, self.parse, self.__doc__ = name, default, parse, doc
        SETTINGS.add(self)

    def raw(self, cfg=None, name=None):
        name = name or self.name
        if cfg is not None and cfg.get(name) is not None:
            return cfg.get(name)
        return os.environ.get(name, self.default)

    def _parsed(self, raw, name):
        try:
            return self.parse(raw)
        except Exception as exc:
            raise ConfigError(f"{name}={raw!r}: {exc}") from None

    def __call__(self, cfg=None):
        return self._parsed(self.raw(cfg), self.name)

    def probes(self, services):
        return [self]


class PerService(Setting):
    """`<SERVICE>_<SUFFIX>`; the default may name `{service}`."""

    def __init__(self, suffix, default, parse=str, doc=""):
        super().__init__("<SERVICE>_" + suffix, default, parse, doc)
        self.suffix = suffix

    def variable(self, service):
        return f"{service.upper()}_{self.suffix}"

    def __call__(self, service, cfg=None, default=None):
        name = self.variable(service)
        fallback = self.default if default is None else default
        raw = cfg.get(name) if cfg is not None and cfg.get(name) is not None else os.environ.get(name)
        if raw is None:
            raw = fallback.format(service=service) if isinstance(fallback, str) else fallback
        return self._parsed(raw, name)

    def probes(self, services):
        return [lambda s=s: self(s) for s in services]


# ---------------------------------------------------------------- parsers

def positive_int(value):
    number = int(value)
    if number < 1:
        raise ValueError("must be 1 or more")
    return number


def non_negative_float(value):
    number = float(value or 0)
    if number < 0:
        raise ValueError("must not be negative")
    return number


def time_zone_name(value):
    zoneinfo.ZoneInfo(value)  # raises for an unknown zone
    return value


def optional_port(value):
    """A TCP port, or nothing (None or empty: no server)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    port = int(value)
    if not 0 < port < 65536:
        raise ValueError("not a TCP port")
    return port


def queue_type_name(value):
    value = (value or "").strip() or "classic"
    if value not in QUEUE_TYPES:
        raise ValueError(f"must be one of {', '.join(QUEUE_TYPES)}")
    return value


def log_level_name(value):
    if value.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
        raise ValueError("not a log level")
    return value.upper()


def centre_code_text(value):
    if not (value.isalpha() and value.isascii() and 2 <= len(value) <= 4):
        raise ValueError("must be two to four letters")
    return value


# ---------------------------------------------------------------- the platform's settings

amqp_uri = Setting("AMQP_URI", "amqp://guest:guest@127.0.0.1:5672/")
database_url = PerService("DATABASE_URL", "postgresql://onewindow:onewindow@127.0.0.1:5432/onewindow_{service}")
metrics_port = PerService("METRICS_PORT", None, optional_port,
                          "set empty: no metrics server; unset: the port the centre's registry gives")
admin_database_url = Setting("OW_ADMIN_DATABASE_URL", "postgresql://onewindow:onewindow@127.0.0.1:5432/postgres",
                             doc="where databases are created and dropped (set-up, sandboxes, tests)")
time_zone = Setting("OW_TIME_ZONE", "Asia/Shanghai", time_zone_name)
centre_code = Setting("OW_CENTRE_CODE", "ZW", centre_code_text,
                      "two to four letters in every application number (year, centre, sequence)")
QUEUE_TYPES = ("classic", "quorum")
queue_type = Setting("OW_QUEUE_TYPE", "classic", queue_type_name,
                     "the type of the services' own queues (`rpc-<service>` and every event consumer queue): "
                     "`quorum` on a cluster (replicated), `classic` on one machine; nameko's RPC reply queues "
                     "keep the broker's default (see topology.queue_arguments)")
web_port = PerService("PORT", None, optional_port, "the port of a service's HTTP entrypoints (e.g. HALL_PORT)")
web_host = Setting("OW_WEB_HOST", "0.0.0.0")
sms_provider = Setting("SMS_PROVIDER", "local")
db_pool_size = Setting("OW_DB_POOL_SIZE", "10", positive_int)
max_workers = Setting("OW_MAX_WORKERS", "20", positive_int)
log_level = Setting("OW_LOG_LEVEL", "INFO", log_level_name)
principal_cache_seconds = Setting("OW_PRINCIPAL_CACHE_SECONDS", "5", non_negative_float,
                                  "how long a service trusts what it read of a principal's role (0: read it on "
                                  "every call); removing a principal's broker user ends its calls at once")
inbox_max_attempts = Setting("OW_INBOX_MAX_ATTEMPTS", "5", positive_int)
retry_base_seconds = Setting("OW_RETRY_BASE_SECONDS", "1.0", non_negative_float)
retention_days = Setting("OW_RETENTION_DAYS", "7", non_negative_float,
                         "age after which published outbox rows, done inbox rows and expired idempotency "
                         "records go, and personal data kept longer is masked")
purge_interval_seconds = Setting("OW_PURGE_INTERVAL_SECONDS", "3600", non_negative_float,
                                 "how often each service runs retention by itself (0: never)")
inbox_wait_seconds = Setting("OW_INBOX_WAIT_SECONDS", "86400", non_negative_float,
                             "how long an event may wait for its prerequisite before it is parked")
inbox_wait_cap_seconds = Setting("OW_INBOX_WAIT_CAP_SECONDS", "30", non_negative_float,
                                 "the longest pause between two looks for a missing prerequisite")
operator_amqp_uri = Setting("OW_OPERATOR_AMQP_URI", "",
                            doc="the broker URI of a principal of role operator: the operator's commands "
                                "(health, ledger, calendar, report, principal token) call as it")
caller_amqp_uri = Setting("OW_CALLER_URI", "",
                          doc="a sandbox's or drill's caller (a broker user tagged impersonator), set by them")
probe_amqp_uri = Setting("OW_PROBE_AMQP_URI", "",
                         doc="the broker URI `onewindow health` calls with (anonymously) when no operator URI is "
                             "set: a user that may ask only for health (ow-probe, made by `onewindow setup "
                             "--service-users`); unset: AMQP_URI")
# What `onewindow setup --service-users` creates the services' own users with
# (deploy/README.md): the operator supplies each, there is no default.
broker_password = PerService("BROKER_PASSWORD", "",
                             doc="set-up only: the password of the service's broker user, ow-<service>")
database_password = PerService("DATABASE_PASSWORD", "",
                               doc="set-up only: the password of the service's PostgreSQL role, ow_<service>")
probe_password = Setting("OW_PROBE_PASSWORD", "", doc="set-up only: the password of the broker user ow-probe")
monitor_password = Setting("OW_MONITOR_PASSWORD", "",
                           doc="set-up only: the password of the PostgreSQL role ow_monitor (postgres_exporter)")
rabbitmq_admin_user = Setting("OW_RABBITMQ_ADMIN_USER", "guest")
rabbitmq_admin_password = Setting("OW_RABBITMQ_ADMIN_PASSWORD", "guest")
rabbitmq_management_url = Setting("OW_RABBITMQ_MANAGEMENT_URL", "http://127.0.0.1:15672")
gateway_max_body_bytes = Setting("GATEWAY_MAX_BODY_BYTES", str(1024 * 1024), positive_int)
gateway_timeout_seconds = Setting("GATEWAY_TIMEOUT_SECONDS", "30", non_negative_float,
                                  "how long the gateway waits for a service's reply before answering 504")
webhook_max_attempts = Setting("GATEWAY_WEBHOOK_ATTEMPTS", "8", positive_int)
webhook_retry_seconds = Setting("GATEWAY_WEBHOOK_RETRY_SECONDS", "2", non_negative_float,
                                "first retry delay of a webhook delivery; doubled each time")
webhook_timeout_seconds = Setting("GATEWAY_WEBHOOK_TIMEOUT_SECONDS", "5", non_negative_float)
webhook_poll_seconds = Setting("GATEWAY_WEBHOOK_POLL_SECONDS", "0.2", non_negative_float)
portal_url = Setting("OW_PORTAL_URL", "",
                     doc="the applicants' web as applicants reach it (e.g. https://zwfw.example.gov.cn); SMS link "
                         "to it only when set")
portal_secret = Setting("OW_PORTAL_SECRET", "",
                        doc="signs the rating links notify sends and the portal checks; the same value for notify "
                            "and every portal replica, kept secret (without it no SMS carries a rating link)")
access_backend = Setting("OW_ACCESS_BACKEND", "", doc="'http': grant through the management API, not rabbitmqctl")


def database_name(service):
    from psycopg.conninfo import conninfo_to_dict
    return conninfo_to_dict(database_url(service))["dbname"]


def web_address(service, default_port=None):
    """host:port of a service's HTTP entrypoints: `<SERVICE>_PORT` (e.g.
    HALL_PORT), else the port the centre's registry gives it; None without."""
    port = web_port(service, default=default_port)
    return f"{web_host()}:{port}" if port else None


def apply_time_zone():
    """Make the configured zone the process's own (TZ), so logs and any
    naive local time agree with the events; the code itself always names
    the zone (workdays.local_now)."""
    import time
    os.environ["TZ"] = time_zone()
    if hasattr(time, "tzset"):
        time.tzset()


def nameko_config(service, default_metrics_port=None, default_web_port=None):
    """The container config a service runs with (see Centre.nameko_config)."""
    cfg = {
        "AMQP_URI": amqp_uri(),
        "DATABASE_URL": database_url(service),
        "METRICS_PORT": metrics_port(service, default=default_metrics_port),
        "max_workers": max_workers(),
        "serializer": "json",
    }
    address = web_address(service, default_web_port)
    if address:  # nameko's web server, for a service with HTTP entrypoints
        cfg["WEB_SERVER_ADDRESS"] = address
    return cfg


def environment_with(**overrides):
    """This process's environment with `overrides`: what a child process
    (a service `onewindow run` starts) is given."""
    return dict(os.environ, **overrides)
