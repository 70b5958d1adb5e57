"""notify's settings, declared with the platform's (onewindow.config) and
checked with them at start: the container config first (tests pass
overrides), then the environment, then defaults."""
import dataclasses
import zoneinfo

from onewindow import config
from onewindow.config import Setting, non_negative_float, positive_int

from . import domain

SIGN_NAME = Setting("OW_SMS_SIGN_NAME", domain.DEFAULT_SIGN_NAME)
QUIET_HOURS = Setting("OW_QUIET_HOURS", "21:00-08:00", domain.parse_quiet_hours)
DAILY_CAP = Setting("OW_SMS_DAILY_CAP", "50", int)
SEND_INTERVAL = Setting("OW_SMS_SEND_INTERVAL", "1.0", non_negative_float)
BATCH = Setting("OW_SMS_BATCH", "50", positive_int)
SENDERS = Setting("OW_SMS_SENDERS", "4", positive_int)
FALLBACK = Setting("SMS_FALLBACK_PROVIDER", "")
MAX_ATTEMPTS = Setting("SMS_MAX_ATTEMPTS", "8", positive_int)
FAILOVER_AFTER = Setting("SMS_FAILOVER_AFTER", "3", int)
RETRY_BASE = Setting("SMS_RETRY_BASE_SECONDS", "", lambda v: non_negative_float(v) if v != "" else None,
                     "default: OW_RETRY_BASE_SECONDS")
RETRY_CAP = Setting("SMS_RETRY_CAP_SECONDS", "600", non_negative_float)
SENDING_LEASE = Setting("OW_SMS_SENDING_LEASE", "60", non_negative_float)
SINK = Setting("OW_SMS_SINK", "")
# the HTTP provider and its backup: SMS_HTTP_* and SMS_HTTP_BACKUP_*
HTTP = {name: {"url": Setting(prefix + "URL", ""), "key": Setting(prefix + "KEY", ""),
               "key_id": Setting(prefix + "KEY_ID", "onewindow"),
               "connect_timeout": Setting(prefix + "CONNECT_TIMEOUT", "3", non_negative_float),
               "read_timeout": Setting(prefix + "READ_TIMEOUT", "5", non_negative_float)}
        for name, prefix in (("http", "SMS_HTTP_"), ("http_backup", "SMS_HTTP_BACKUP_"))}


@dataclasses.dataclass(frozen=True)
class HttpSettings:
    name: str
    url: str
    key: str
    key_id: str
    connect_timeout: float
    read_timeout: float


@dataclasses.dataclass(frozen=True)
class Settings:
    sign_name: str
    quiet_hours: tuple
    daily_cap: int
    send_interval: float
    batch: int
    senders: int
    provider: str
    fallback: str
    max_attempts: int
    failover_after: int
    retry_base: float
    retry_cap: float
    sending_lease: float
    time_zone: zoneinfo.ZoneInfo
    http: dict
    sink: str
    portal_url: str = ""  # the applicants' web; without it no SMS links to it
    portal_secret: str = ""  # signs the rating link; without it no rating link
    config: dict = dataclasses.field(default=None, compare=False, repr=False)  # for the cloud providers

    @classmethod
    def load(cls, cfg=None):
        http = {name: HttpSettings(name=name, **{field: setting(cfg) for field, setting in fields.items()})
                for name, fields in HTTP.items()}
        retry_base = RETRY_BASE(cfg)
        return cls(
            sign_name=str(SIGN_NAME(cfg)),
            quiet_hours=QUIET_HOURS(cfg),
            daily_cap=DAILY_CAP(cfg),
            send_interval=SEND_INTERVAL(cfg),
            batch=BATCH(cfg),
            senders=SENDERS(cfg),
            provider=str(config.sms_provider(cfg)),
            fallback=str(FALLBACK(cfg)),
            max_attempts=MAX_ATTEMPTS(cfg),
            failover_after=FAILOVER_AFTER(cfg),
            retry_base=config.retry_base_seconds() if retry_base is None else retry_base,
            retry_cap=RETRY_CAP(cfg),
            sending_lease=sending_lease(SENDING_LEASE(cfg), http.values()),
            time_zone=zoneinfo.ZoneInfo(config.time_zone()),
            http=http,
            sink=str(SINK(cfg)),
            portal_url=str(config.portal_url(cfg)).strip().rstrip("/"),
            portal_secret=str(config.portal_secret(cfg)),
            config=dict(cfg) if cfg is not None else None,
        )


def sending_lease(configured, http):
    """The lease is renewed before each send and must outlast one: twice the
    slowest provider's connect and read timeouts, whatever was configured."""
    slowest = max((h.connect_timeout + h.read_timeout for h in http), default=0.0)
    return max(configured, 2 * slowest + 5)
