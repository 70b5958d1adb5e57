"""review's own Prometheus instruments (names in docs/metrics.md)."""
from prometheus_client import Counter, Gauge, Histogram

TASKS_OPEN = Gauge("onewindow_review_tasks_open", "Review tasks waiting for a decision", ["department"])
TASKS_YELLOW = Gauge("onewindow_review_tasks_yellow", "Open tasks with a yellow warning (one working day left)",
                     ["department"])
TASKS_RED = Gauge("onewindow_review_tasks_red", "Open tasks with a red warning (supervision notice issued)",
                  ["department"])
TASKS_OVERDUE = Gauge("onewindow_review_tasks_overdue", "Open tasks past their due date", ["department"])
# Counted in workdays of the State Council calendar (weekends and holidays
# skipped, make-up Saturdays counted): a count of calendar days, which no
# number of seconds converts to, so the unit is named "workdays", not "days".
DURATION = Histogram(
    "onewindow_review_decision_workdays", "Workdays from a task's start to its decision", ["department"],
    buckets=(0, 1, 2, 3, 5, 8, 10, 15, 20, 30, 45, 60),
)
DECISIONS = Counter("onewindow_review_decisions_total", "Decisions recorded, by department and decision",
                    ["department", "decision"])
DEEMED_APPROVALS = Counter("onewindow_review_deemed_approvals_total", "Tasks approved by timeout (超时默认)",
                           ["department"])
VETOES = Counter("onewindow_review_vetoes_total", "Rejections filed with their legal basis (否决报备)",
                 ["department"])
EXTENSIONS = Counter("onewindow_review_extensions_total", "Tasks extended (延期), by department", ["department"])
SUPERVISION_NOTICES = Counter("onewindow_review_supervision_notices_total",
                              "Warnings (yellow, unstaffed) and supervision notices (督办: red, then level2, level3) issued",
                              ["department", "level"])


NOTICES_UNANSWERED = Gauge("onewindow_review_notices_unanswered",
                           "Supervision notices (督办) not answered yet, by department and the level they reached",
                           ["department", "level"])
_NOTICE_LABELS = set()


def set_notice_gauges(rows):
    """rows: department, level, unanswered; a pair no longer listed drops to 0."""
    seen = set()
    for row in rows:
        labels = (row["department"], str(row["level"]))
        NOTICES_UNANSWERED.labels(*labels).set(row["unanswered"])
        seen.add(labels)
    for labels in _NOTICE_LABELS - seen:
        NOTICES_UNANSWERED.labels(*labels).set(0)
    _NOTICE_LABELS.clear()
    _NOTICE_LABELS.update(seen)


def set_department_gauges(rows):
    """rows: department, open, yellow, red, overdue (every department that has tasks)."""
    for row in rows:
        department = row["department"]
        TASKS_OPEN.labels(department).set(row["open"])
        TASKS_YELLOW.labels(department).set(row["yellow"])
        TASKS_RED.labels(department).set(row["red"])
        TASKS_OVERDUE.labels(department).set(row["overdue"])
