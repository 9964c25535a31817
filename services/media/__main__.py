from libs.common.runtime import run_service
from services.media.app import create_app
from services.media.settings import MediaSettings

run_service(MediaSettings, create_app)
