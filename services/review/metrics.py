"""review's own Prometheus instruments (names in docs/metrics.md)."""
from prometheus_client import Counter, Gauge, Histogram

TASKS_OPEN = Gauge("onewindow_review_tasks_open", "Review tasks waiting for a decision", ["department"])
TASKS_YELLOW = Gauge("onewindow_review_tasks_yellow", "Open tasks with a yellow warning (one working day left)",
                     ["department"])
TASKS_RED = Gauge("onewindow_review_tasks_red", "Open tasks with a red warning (supervision notice issued)",
                  ["department"])
TASKS_OVERDUE = Gauge("onewindow_review_tasks_overdue", "Open tasks past their due date", ["department"])
DURATION = Histogram(
    "onewindow_review_duration_working_days", "Working days from a task's start to its decision", ["department"],
    buckets=(0, 1, 2, 3, 5, 8, 10, 15, 20, 30, 45, 60),
)
DECISIONS = Counter("onewindow_review_decisions_total", "Decisions recorded, by department and decision",
                    ["department", "decision"])
DEEMED_APPROVALS = Counter("onewindow_review_deemed_approvals_total", "Tasks approved by timeout (超时默认)",
                           ["department"])
VETOES = Counter("onewindow_review_vetoes_total", "Rejections filed with their legal basis (否决报备)",
                 ["department"])
SUPERVISION_NOTICES = Counter("onewindow_review_supervision_notices_total",
                              "Warnings and supervision notices (督办) issued", ["department", "level"])


def set_department_gauges(rows):
    """rows: department, open, yellow, red, overdue (every department that has tasks)."""
    for row in rows:
        department = row["department"]
        TASKS_OPEN.labels(department).set(row["open"])
        TASKS_YELLOW.labels(department).set(row["yellow"])
        TASKS_RED.labels(department).set(row["red"])
        TASKS_OVERDUE.labels(department).set(row["overdue"])
