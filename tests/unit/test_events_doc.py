"""docs/events.md says who listens to what, and which events no one listens
to: both tables are checked against the services' own declarations."""
import pathlib
import re

from services.registry import CENTRE

ROOT = pathlib.Path(__file__).resolve().parents[2]


def table(section):
    """{row name: {(source, event)}} of the first table under `section`."""
    text = (ROOT / "docs" / "events.md").read_text()
    body = text[text.index(section):]
    rows = {}
    for line in body.splitlines():
        if not line.startswith("| ") or line.startswith("| ---") or line.startswith("| consumer") \
                or line.startswith("| source"):
            if rows and not line.startswith("|"):
                break
            continue
        name, cell = [c.strip() for c in line.strip("|").split("|")]
        events = set()
        if ":" not in cell:  # one source per row: `| hall | a, b |`
            cell = f"{name}: {cell}"
        for part in cell.split(";"):
            source, names = part.split(":", 1)
            names = re.sub(r"\(.*?\)", "", names)
            events |= {(source.strip(), n.strip()) for n in names.split(",") if n.strip()}
        rows[name] = events
    return rows


def emitted():
    """(source, event type) of every `emit("...")` in the services' code."""
    found = set()
    for path in (ROOT / "services").glob("*/*.py"):
        found |= {(path.parent.name, e) for e in re.findall(r'emit\(\s*"([a-z_]+)"', path.read_text())}
    return found


def test_who_listens_is_what_the_services_declare():
    declared = {}
    for source, event_type, queue in CENTRE.subscriptions():
        consumer = queue.split("--", 1)[1].split(".", 1)[0]
        declared.setdefault(consumer, set()).add((source, event_type))
    assert table("## Who listens") == declared


def test_every_event_emitted_is_heard_or_listed_as_heard_by_no_one():
    heard = {(source, event_type) for source, event_type, _ in CENTRE.subscriptions()}
    unheard = set().union(*table("No service listens to these").values())
    assert not unheard & heard
    assert emitted() - heard == unheard
