"""Errors of the services layer, each saying whose fault it is.

    ServiceError                 base of everything raised here
    ├── HttpError                a webhook / lookup request did not produce a reply
    │   ├── HttpTargetRefused    local policy: bad URL, scheme, or a private address
    │   ├── HttpInvalidRequest   local: a header the flow built cannot be sent
    │   ├── HttpTimeout          the remote took longer than the element's timeout_s
    │   ├── HttpConnectError     the remote could not be reached (refused, DNS, reset)
    │   └── HttpProtocolError    the remote answered with something that is not HTTP
    └── MailError                an email could not be handed to the SMTP server
        ├── MailConfigError      local: FLOWPBX_SMTP_URL missing or malformed
        └── MailSendError        remote: the server refused or was unreachable
                                 (`permanent` when a 5xx reply says retrying is useless)

Flow elements catch any exception from their HTTP client and take the `default` output;
these classes exist so the trace and the logs say *why* in one line.
"""

from __future__ import annotations

__all__ = [
    "HttpConnectError",
    "HttpError",
    "HttpInvalidRequest",
    "HttpProtocolError",
    "HttpTargetRefused",
    "HttpTimeout",
    "MailConfigError",
    "MailError",
    "MailSendError",
    "ServiceError",
]


class ServiceError(Exception):
    """Something in the outside world (HTTP, SMTP) did not work out."""


class HttpError(ServiceError):
    """A request produced no usable reply."""


class HttpTargetRefused(HttpError):
    """The request was not sent: the URL is malformed or points at a forbidden address."""


class HttpInvalidRequest(HttpError):
    """The request was not sent: a header name or value is not valid HTTP."""


class HttpTimeout(HttpError):
    """No complete reply within the request's timeout."""


class HttpConnectError(HttpError):
    """The server could not be reached (DNS failure, connection refused or reset)."""


class HttpProtocolError(HttpError):
    """The server's reply was not valid HTTP."""


class MailError(ServiceError):
    """An email could not be sent."""


class MailConfigError(MailError):
    """The SMTP settings are missing or malformed (our fault, not the server's)."""


class MailSendError(MailError):
    """The SMTP server refused the message or could not be reached."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent
