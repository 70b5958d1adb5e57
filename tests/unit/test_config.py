"""Settings are declared once and checked together before anything starts."""
import pytest

from onewindow import config
from services.registry import CENTRE


def test_defaults_are_valid():
    CENTRE.validate()


def test_every_bad_value_is_named_at_once(monkeypatch):
    # as `onewindow run` checks: every service imported, then every setting
    monkeypatch.setenv("OW_DB_POOL_SIZE", "ten")
    monkeypatch.setenv("OW_TIME_ZONE", "Mars/Olympus")
    monkeypatch.setenv("FEES_METRICS_PORT", "99999")
    monkeypatch.setenv("OW_QUIET_HOURS", "9pm-8am")  # declared by notify
    with pytest.raises(config.ConfigError) as err:
        CENTRE.validate()
    message = str(err.value)
    for name in ("OW_DB_POOL_SIZE='ten'", "OW_TIME_ZONE='Mars/Olympus'", "FEES_METRICS_PORT='99999'",
                 "OW_QUIET_HOURS='9pm-8am'"):
        assert name in message


def test_a_service_does_not_start_with_a_bad_value(monkeypatch):
    monkeypatch.setenv("OW_INBOX_MAX_ATTEMPTS", "0")
    with pytest.raises(config.ConfigError, match="OW_INBOX_MAX_ATTEMPTS='0': must be 1 or more"):
        CENTRE.nameko_config("intake")


def test_container_config_wins_over_the_environment(monkeypatch):
    monkeypatch.setenv("OW_SMS_BATCH", "7")
    from services.notify import settings
    assert settings.BATCH() == 7
    assert settings.BATCH({"OW_SMS_BATCH": 3}) == 3


def test_per_service_settings_follow_the_service_name(monkeypatch):
    monkeypatch.setenv("FEES_METRICS_PORT", "")
    monkeypatch.delenv("REVIEW_METRICS_PORT", raising=False)
    assert config.metrics_port("fees", default=9103) is None
    assert config.metrics_port("review", default=9102) == 9102
    monkeypatch.delenv("ARCHIVE_DATABASE_URL", raising=False)
    assert config.database_url("archive").endswith("/onewindow_archive")


def test_the_command_refuses_to_run_with_a_bad_value(monkeypatch, capsys):
    from onewindow import cli
    monkeypatch.setenv("OW_CENTRE_CODE", "Z1")
    monkeypatch.setattr(CENTRE, "set_up", lambda *a, **k: pytest.fail("nothing may be set up"))
    assert cli.main(["run"], centre=CENTRE) == 1
    assert "OW_CENTRE_CODE='Z1'" in capsys.readouterr().err
