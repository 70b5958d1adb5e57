"""The principal registry is read once per OW_PRINCIPAL_CACHE_SECONDS per
name and database, not on every call; a name not (yet) registered is never
remembered."""
from onewindow import principals


class CountingUnit:
    """A unit of work over a principals table held in a dict, counting reads."""

    def __init__(self, rows):
        self._pool = type("Pool", (), {})()  # what the cache keys on
        self.rows = rows
        self.reads = 0

    def one(self, sql, params):
        assert sql.startswith("SELECT name, role, department FROM principals")
        self.reads += 1
        return self.rows.get(params[0])


def test_a_known_principal_is_read_once_within_the_cache_time(monkeypatch):
    monkeypatch.setenv("OW_PRINCIPAL_CACHE_SECONDS", "60")
    unit = CountingUnit({"win-1": {"name": "win-1", "role": "window", "department": None}})
    for _ in range(5):
        assert principals.resolve(unit, "win-1").role == "window"
    assert unit.reads == 1


def test_two_databases_never_share_what_they_said(monkeypatch):
    monkeypatch.setenv("OW_PRINCIPAL_CACHE_SECONDS", "60")
    first = CountingUnit({"x": {"name": "x", "role": "window", "department": None}})
    second = CountingUnit({"x": {"name": "x", "role": "supervisor", "department": None}})
    assert principals.resolve(first, "x").role == "window"
    assert principals.resolve(second, "x").role == "supervisor"


def test_a_changed_role_is_read_again_once_the_cache_time_is_over(monkeypatch):
    monkeypatch.setenv("OW_PRINCIPAL_CACHE_SECONDS", "60")
    clock = [1000.0]
    monkeypatch.setattr(principals.time, "monotonic", lambda: clock[0])
    unit = CountingUnit({"x": {"name": "x", "role": "window", "department": None}})
    assert principals.resolve(unit, "x").role == "window"
    unit.rows["x"] = {"name": "x", "role": "supervisor", "department": None}
    clock[0] += 59
    assert principals.resolve(unit, "x").role == "window"
    clock[0] += 2
    assert principals.resolve(unit, "x").role == "supervisor"
    assert unit.reads == 2


def test_an_unregistered_name_is_asked_again_at_its_next_call(monkeypatch):
    monkeypatch.setenv("OW_PRINCIPAL_CACHE_SECONDS", "60")
    unit = CountingUnit({})
    for _ in range(2):
        try:
            principals.resolve(unit, "newcomer")
        except principals.Forbidden:
            pass
        else:
            raise AssertionError("an unregistered name was let in")
    unit.rows["newcomer"] = {"name": "newcomer", "role": "window", "department": None}
    assert principals.resolve(unit, "newcomer").role == "window"
    assert unit.reads == 3


def test_zero_reads_the_registry_on_every_call(monkeypatch):
    monkeypatch.setenv("OW_PRINCIPAL_CACHE_SECONDS", "0")
    unit = CountingUnit({"x": {"name": "x", "role": "window", "department": None}})
    principals.resolve(unit, "x")
    principals.resolve(unit, "x")
    assert unit.reads == 2
