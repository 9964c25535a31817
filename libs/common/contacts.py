"""E-mail addresses as every door accepts them and as notify delivers them: one rule, one library.

Validation is `email-validator` (RFC 5321/5322 syntax, RFC 6531 internationalised addresses,
IDNA 2008 / UTS #46 for domains). What is accepted is what notify can deliver:

- an internationalised domain (`user@пример.рф`) is always accepted: it is sent IDNA-encoded
  (`user@xn--e1afmkfd.xn--p1ai`), which every relay understands;
- a non-ASCII local part (`иван@example.org`) needs SMTPUTF8 (RFC 6531) end to end, so it is
  accepted only where the deployment says its relay supports it (`APPEALS_MAIL_SMTPUTF8=true`),
  and refused at the door otherwise, with a message saying why, never accepted then parked;
- quoted local parts, IP-literal domains and display names are refused everywhere.

Deliverability (DNS MX look-ups) is not checked at the door: it would make the door depend on
DNS and leak timing; a relay's permanent refusal is recorded by notify as before.
"""

from __future__ import annotations

from dataclasses import dataclass

from email_validator import EmailNotValidError, validate_email

MAX_EMAIL_LENGTH = 254  # RFC 5321 §4.5.3.1.3, path less the angle brackets

NEEDS_SMTPUTF8 = (
    "адрес электронной почты с нелатинскими символами до знака @ не поддерживается: "
    "укажите адрес из латинских букв (internationalised local parts need SMTPUTF8, "
    "which this service's mail relay does not offer)"
)


class InvalidEmail(ValueError):
    """Not an address we can deliver to; the text is for the person who typed it (no logging)."""


@dataclass(frozen=True)
class EmailAddress:
    normalized: str  # what is stored and shown: NFC, domain lower-cased, Unicode domain kept
    deliver_to: str  # what the envelope and the To header carry: the domain IDNA-encoded
    smtputf8: bool  # the local part is non-ASCII: only a SMTPUTF8 relay can take it


def check_email(raw: str, *, smtputf8: bool) -> EmailAddress:
    """Validate one plain address (`local@domain`) for delivery.

    raw: as typed (surrounding whitespace ignored). smtputf8: whether the mail relay supports
    SMTPUTF8 (RFC 6531), i.e. whether non-ASCII local parts can be delivered.
    Raises InvalidEmail with a reason fit for a 422 (syntax, length, display names, quoted local
    parts, IP-literal domains, or a non-ASCII local part without SMTPUTF8)."""
    text = raw.strip()
    if not text or len(text) > MAX_EMAIL_LENGTH:
        raise InvalidEmail(f"an e-mail address has 1 to {MAX_EMAIL_LENGTH} characters")
    try:
        info = validate_email(
            text,
            check_deliverability=False,
            allow_smtputf8=True,  # decided below, with our own message
            allow_display_name=False,
            allow_quoted_local=False,
            allow_domain_literal=False,
            allow_empty_local=False,
        )
    except EmailNotValidError as exc:
        raise InvalidEmail(f"not a valid e-mail address: {exc}") from None
    local, _, _ = info.normalized.rpartition("@")
    needs_utf8 = not local.isascii()
    if needs_utf8 and not smtputf8:
        raise InvalidEmail(NEEDS_SMTPUTF8)
    return EmailAddress(info.normalized, f"{local}@{info.ascii_domain}", needs_utf8)


def normalized_email(raw: str | None, *, smtputf8: bool) -> str | None:
    """`check_email(...).normalized` for an optional field; None and "" stay None."""
    if raw is None or not raw.strip():
        return None
    return check_email(raw, smtputf8=smtputf8).normalized
