"""The feed for department systems, paging, the green channel and reviewer
pools, against the real broker and database."""
import json

from tests.review.conftest import department
from tests.review.test_review import decide, remote_error


def market(uid, **extra):
    return department(f"SCJG{uid}", "市场监督管理局", due_date="2026-12-18", primary=f"sc-a-{uid}",
                      backup=f"sc-b-{uid}", **extra)


def test_the_feed_serves_each_change_once_in_order_from_a_cursor(review, rpc, case, uid):
    code = f"SCJG{uid}"
    first, _ = case(market(uid), accepted_on="2026-11-20")
    second, tasks = case(market(uid), accepted_on="2026-11-20")

    page = rpc.review.feed(code, limit=1)
    assert [t["application_no"] for t in page["tasks"]] == [first]
    page = rpc.review.feed(code, page["cursor"], 10)
    assert [t["application_no"] for t in page["tasks"]] == [second]
    assert page["tasks"][0]["fields"] == {} and page["tasks"][0]["item_name"] == "食品经营许可"
    cursor = page["cursor"]
    # nothing new: the same cursor comes back
    assert rpc.review.feed(code, cursor) == {"cursor": cursor, "tasks": []}

    # a decision is a change: the decided task comes again, once, as it is now
    decide(rpc, tasks[code], f"sc-a-{uid}")
    page = rpc.review.feed(code, cursor)
    assert [(t["application_no"], t["status"]) for t in page["tasks"]] == [(second, "approved")]
    assert rpc.review.feed(code, page["cursor"])["tasks"] == []
    # from the beginning: each task once, as it is now
    assert sorted(t["application_no"] for t in rpc.review.feed(code)["tasks"]) == sorted([first, second])

    err = remote_error(lambda: rpc.review.feed(code, "not-a-cursor", 0))
    assert set(json.loads(err.value)) == {"after", "limit"}


def test_green_channel_cases_come_first_in_tasks_and_feed_and_tasks_page(review, rpc, case, uid):
    code = f"SCJG{uid}"
    ordinary = [case(department(code, "市场监督管理局", due_date=f"2026-12-0{n}", primary=f"sc-a-{uid}",
                                backup=f"sc-b-{uid}"), accepted_on="2026-11-20")[0] for n in (1, 2)]
    green, _ = case(department(code, "市场监督管理局", due_date="2026-12-09", primary=f"sc-a-{uid}",
                               backup=f"sc-b-{uid}"), accepted_on="2026-11-20",
                    green_channel={"reason": "重点招商引资项目"})
    listed = rpc.review.tasks(code)
    assert [t["application_no"] for t in listed] == [green] + ordinary
    assert listed[0]["green_channel"] == {"reason": "重点招商引资项目"} and listed[1]["green_channel"] is None
    assert [t["application_no"] for t in rpc.review.tasks(code, "open", 2)] == [green, ordinary[0]]
    assert [t["application_no"] for t in rpc.review.tasks(code, None, 2, 2)] == [ordinary[1]]
    assert [t["application_no"] for t in rpc.review.feed(code)["tasks"]] == [green] + ordinary
    err = remote_error(lambda: rpc.review.tasks(code, None, 0, -1))
    assert set(json.loads(err.value)) == {"limit", "offset"}


def test_a_pool_on_each_post_any_present_primary_decides_then_the_backups(review, rpc, case, uid, outbox):
    code = f"SCJG{uid}"
    no, tasks = case(market(uid), accepted_on="2026-11-20")
    roster = rpc.review.set_roster(code, [{"id": "wang", "name": "王芳"}, "zhao"],
                                   [{"id": "liu", "phone": "13811110000"}, "chen"])
    assert [p["id"] for p in roster["posts"]["primary"]] == ["wang", "zhao"]
    assert roster["primary"]["name"] == "王芳" and roster["backup"]["id"] == "liu"
    assert roster["assignment"] == {"assignee": "wang", "may_decide": ["wang", "zhao"], "acting_for": None,
                                    "reason": "primary post (A岗)"}
    rpc.review.set_absent(code, "wang", True)
    rpc.review.set_absent(code, "zhao", True)
    view = rpc.review.application(no)["tasks"][0]
    assert view["assignment"]["may_decide"] == ["liu", "chen"] and view["assignee"] == "liu"
    assert remote_error(lambda: decide(rpc, tasks[code], "zhao")).exc_type == "Forbidden"
    decided = decide(rpc, tasks[code], "chen")["task"]
    assert (decided["reviewer"], decided["acting_for"]) == ("chen", "wang")
    # re-setting keeps absences and names of people named again
    again = rpc.review.set_roster(code, ["wang", "zhao"], ["liu"])
    assert again["primary"] == {"id": "wang", "name": "王芳", "phone": None, "absent": True}

    err = remote_error(lambda: rpc.review.set_roster(code, [], ["liu", {"name": "no id"}, "liu"]))
    assert json.loads(err.value) == {"primary": ["at least one reviewer"],
                                     "backup.1.id": ["Missing data for required field."],
                                     "backup.2": ["already on this post"]}


def test_a_change_still_uncommitted_neither_holds_up_the_feed_nor_lands_behind_its_cursor(
        review, rpc, case, uid, review_database):
    """The feed's position is drawn as a change commits: a read does not
    wait for a transaction still at work, and what that transaction changed
    comes after the cursor the read handed out."""
    import psycopg

    from services.review.store import FEED_LOCK

    code = f"SCJG{uid}"
    _, first = case(market(uid), accepted_on="2026-11-20")
    _, second = case(market(uid), accepted_on="2026-11-20")
    start = rpc.review.feed(code)["cursor"]

    def feed(conn, after):
        with conn.transaction():
            conn.execute("SET LOCAL lock_timeout = '2s'")
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (FEED_LOCK,))
            return conn.execute("SELECT task_id, feed_seq FROM tasks WHERE department = %s AND feed_seq > %s "
                                "ORDER BY feed_seq", (code, after)).fetchall()

    with psycopg.connect(review_database) as slow, psycopg.connect(review_database, autocommit=True) as other, \
            psycopg.connect(review_database, autocommit=True) as reader:
        slow.execute("UPDATE tasks SET opinion = 'still writing' WHERE task_id = %s", (first[code]["task_id"],))
        other.execute("UPDATE tasks SET opinion = 'done' WHERE task_id = %s", (second[code]["task_id"],))
        page = feed(reader, int(start))  # with the old trigger: a lock timeout here
        assert [task_id for task_id, _ in page] == [second[code]["task_id"]]
        slow.commit()
        later = feed(reader, page[-1][1])
        assert [task_id for task_id, _ in later] == [first[code]["task_id"]]
    assert rpc.review.feed(code, str(page[-1][1]))["tasks"][0]["opinion"] == "still writing"
