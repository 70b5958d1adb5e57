"""The composition root: the services this centre runs.

The platform (`onewindow`) never imports a service; it receives this list.
The `onewindow` command finds it through the `onewindow.centre` entry point
in pyproject.toml; tests, drills and benchmarks import it. A new service is
one line here: its name, its class by import path, its metrics port (and web
port, and what loads its reference data, if any). Nothing is imported here:
a process that serves one service imports that service's code only.

`subscriptions.json` beside this file lists every event handler of these
services (`make api-docs` writes it from the handlers; a unit test fails when
it is stale), so that each relay declares every consumer queue at its start
without importing the consumers.
"""
import pathlib

from onewindow.centre import Centre, Member
from onewindow.principals import GATEWAY, PORTAL

CENTRE = Centre(
    Member("intake", "services.intake.service:IntakeService", metrics_port=9101,
           bootstrap="services.intake.store:bootstrap"),
    Member("review", "services.review.service:ReviewService", metrics_port=9102),
    Member("fees", "services.fees.service:FeesService", metrics_port=9103),
    Member("notify", "services.notify.service:NotifyService", metrics_port=9104),
    Member("hall", "services.hall.service:HallService", metrics_port=9105, web_port=8002),
    # calls every method on behalf of the principal a token names: its broker user holds role gateway
    Member("gateway", "services.gateway.service:GatewayService", metrics_port=9106, web_port=8001, role=GATEWAY),
    # the applicants' web; its broker user calls as the principal of role portal
    Member("portal", "services.portal.service:PortalService", metrics_port=9107, web_port=8000, role=PORTAL,
           web_home="/"),
    subscriptions=pathlib.Path(__file__).with_name("subscriptions.json"),
)
