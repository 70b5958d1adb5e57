"""notify's settings: the container config first (tests pass overrides),
then the environment, then defaults."""
import dataclasses
import os
import zoneinfo

from onewindow import config

from . import domain


def _get(cfg, name, default):
    if cfg is not None and cfg.get(name) is not None:
        return cfg.get(name)
    return os.environ.get(name, default)


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
    provider: str
    fallback: str
    max_attempts: int
    failover_after: int
    retry_base: float
    retry_cap: float
    sending_lease: float
    time_zone: zoneinfo.ZoneInfo
    http: dict

    @classmethod
    def load(cls, cfg=None):
        http = {}
        for name, prefix in (("http", "SMS_HTTP_"), ("http_backup", "SMS_HTTP_BACKUP_")):
            http[name] = HttpSettings(
                name=name,
                url=str(_get(cfg, prefix + "URL", "")),
                key=str(_get(cfg, prefix + "KEY", "")),
                key_id=str(_get(cfg, prefix + "KEY_ID", "onewindow")),
                connect_timeout=float(_get(cfg, prefix + "CONNECT_TIMEOUT", "3")),
                read_timeout=float(_get(cfg, prefix + "READ_TIMEOUT", "5")),
            )
        return cls(
            sign_name=str(_get(cfg, "OW_SMS_SIGN_NAME", domain.DEFAULT_SIGN_NAME)),
            quiet_hours=domain.parse_quiet_hours(_get(cfg, "OW_QUIET_HOURS", "21:00-08:00")),
            daily_cap=int(_get(cfg, "OW_SMS_DAILY_CAP", "50")),
            send_interval=float(_get(cfg, "OW_SMS_SEND_INTERVAL", "1.0")),
            batch=int(_get(cfg, "OW_SMS_BATCH", "50")),
            provider=str(_get(cfg, "SMS_PROVIDER", config.sms_provider())),
            fallback=str(_get(cfg, "SMS_FALLBACK_PROVIDER", "")),
            max_attempts=int(_get(cfg, "SMS_MAX_ATTEMPTS", "8")),
            failover_after=int(_get(cfg, "SMS_FAILOVER_AFTER", "3")),
            retry_base=float(_get(cfg, "SMS_RETRY_BASE_SECONDS", str(config.retry_base_seconds()))),
            retry_cap=float(_get(cfg, "SMS_RETRY_CAP_SECONDS", "600")),
            sending_lease=float(_get(cfg, "OW_SMS_SENDING_LEASE", "60")),
            time_zone=zoneinfo.ZoneInfo(config.time_zone()),
            http=http,
        )
