"""review data access: one function per question or change."""
from onewindow.db import Store


class ReviewStore(Store):
    pass
