from __future__ import annotations

from typing import ClassVar

from pydantic import SecretStr, model_validator

from libs.common.settings import ServiceSettings


class NotifySettings(ServiceSettings):
    service_name: ClassVar[str] = "notify"

    http_port: int = 8003
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 1025
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = False
    smtp_use_tls: bool = False
    mail_from: str = "Обращения граждан <no-reply@appeals.local>"
    smtp_timeout: float = 10

    @model_validator(mode="after")
    def _one_tls_mode(self) -> NotifySettings:
        if self.smtp_starttls and self.smtp_use_tls:
            raise ValueError("choose smtp_starttls (upgrade) or smtp_use_tls (implicit TLS), not both")
        return self
