from libs.common.runtime import run_service
from services.deadlines.app import create_app
from services.deadlines.settings import DeadlinesSettings

run_service(DeadlinesSettings, create_app)
