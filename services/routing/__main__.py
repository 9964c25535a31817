from libs.common.runtime import run_service
from services.routing.app import create_app
from services.routing.settings import RoutingSettings

run_service(RoutingSettings, create_app)
