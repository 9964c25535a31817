from libs.common.runtime import run_service
from services.web.app import create_app
from services.web.settings import WebSettings

run_service(WebSettings, create_app)
