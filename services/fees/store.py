"""fees data access: one function per question or change."""
from onewindow.db import Store


class FeesStore(Store):
    pass
