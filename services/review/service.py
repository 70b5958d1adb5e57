"""review service: nameko entrypoints only."""
from onewindow.db import Database
from onewindow.entrypoints import rpc
from onewindow.metrics import Metrics


class ReviewService:
    name = "review"
    db = Database()
    metrics = Metrics()

    @rpc
    def health(self):
        self.db.one("SELECT 1")
        return {"ok": True, "service": self.name}
