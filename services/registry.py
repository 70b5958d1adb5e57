"""The composition root: the services this centre runs.

The platform (`onewindow`) never imports a service; it receives this list.
The `onewindow` command finds it through the `onewindow.centre` entry point
in pyproject.toml; tests, drills and benchmarks import it. A new service is
one import and one line here (its class, its metrics port, and what loads its
reference data, if any).
"""
from onewindow.centre import Centre, Member
from onewindow.principals import GATEWAY, PORTAL

from services.fees.service import FeesService
from services.hall.service import HallService
from services.gateway.service import GatewayService
from services.intake.service import IntakeService
from services.intake.store import bootstrap as load_catalog
from services.notify.service import NotifyService
from services.portal.service import PortalService
from services.review.service import ReviewService

CENTRE = Centre(
    Member(IntakeService, metrics_port=9101, bootstrap=load_catalog),
    Member(ReviewService, metrics_port=9102),
    Member(FeesService, metrics_port=9103),
    Member(NotifyService, metrics_port=9104),
    Member(HallService, metrics_port=9105, web_port=8002),
    # calls every method on behalf of the principal a token names: its broker user holds role gateway
    Member(GatewayService, metrics_port=9106, web_port=8001, role=GATEWAY),
    # the applicants' web; its broker user calls as the principal of role portal
    Member(PortalService, metrics_port=9107, web_port=8000, role=PORTAL, web_home="/"),
)
