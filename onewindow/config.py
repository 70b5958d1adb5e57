"""Configuration from environment variables, with defaults for one machine."""
import os

SERVICES = ("intake", "review", "fees", "notify")
DEFAULT_METRICS_PORTS = {"intake": 9101, "review": 9102, "fees": 9103, "notify": 9104}


def amqp_uri():
    return os.environ.get("AMQP_URI", "amqp://guest:guest@127.0.0.1:5672/")


def database_url(service):
    return os.environ.get(
        f"{service.upper()}_DATABASE_URL",
        f"postgresql://onewindow:onewindow@127.0.0.1:5432/onewindow_{service}",
    )


def metrics_port(service):
    value = os.environ.get(f"{service.upper()}_METRICS_PORT")
    if value is None:
        return DEFAULT_METRICS_PORTS.get(service)
    return int(value) if value.strip() else None


def time_zone():
    return os.environ.get("OW_TIME_ZONE", "Asia/Shanghai")


def centre_code():
    """Two to four letters in every application number (year, centre, sequence)."""
    return os.environ.get("OW_CENTRE_CODE", "ZW")


def sms_provider():
    return os.environ.get("SMS_PROVIDER", "local")


def db_pool_size():
    return int(os.environ.get("OW_DB_POOL_SIZE", "10"))


def inbox_max_attempts():
    return int(os.environ.get("OW_INBOX_MAX_ATTEMPTS", "5"))


def retry_base_seconds():
    return float(os.environ.get("OW_RETRY_BASE_SECONDS", "1.0"))


def nameko_config(service):
    """The container config a service runs with."""
    return {
        "AMQP_URI": amqp_uri(),
        "DATABASE_URL": database_url(service),
        "METRICS_PORT": metrics_port(service),
        "max_workers": int(os.environ.get("OW_MAX_WORKERS", "20")),
        "serializer": "json",
    }
