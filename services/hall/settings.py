"""The hall's layout as a nameko dependency: read once when the service
starts (HALL_LAYOUT in the container config or the environment, else the
layout shipped with the service), with the department lights the screen shows."""
from nameko.extensions import DependencyProvider

from . import domain, screen


class HallLayout(DependencyProvider):
    def setup(self):
        self.layout = domain.Layout.load(self.container.config.get("HALL_LAYOUT"))
        self.lights = screen.Lights(self.layout.departments)

    def get_dependency(self, worker_ctx):
        return self
