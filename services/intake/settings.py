"""intake's settings, declared with the platform's (onewindow.config) and
checked with them at start."""
from onewindow.config import Setting, positive_int

# Working days the department concerned has to answer a complaint.
complaint_days = Setting("OW_COMPLAINT_DAYS", "5", positive_int)
