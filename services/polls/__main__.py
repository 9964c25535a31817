from libs.common.runtime import run_service
from services.polls.app import create_app
from services.polls.settings import PollsSettings

run_service(PollsSettings, create_app)
