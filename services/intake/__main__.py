from libs.common.runtime import run_service
from services.intake.app import create_app
from services.intake.settings import IntakeSettings

run_service(IntakeSettings, create_app)
