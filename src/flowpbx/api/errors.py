"""API errors: every failure answers `{"error": {"id", "message", "details"}}` (SPEC §6).

    Exception
     └── ApiError              raised by handlers; `status`, stable `error_id`, `details`

Framework errors are mapped too: unknown route → 404 `not-found`, wrong method → 405
`method-not-allowed`, invalid input → 422 `invalid-request` with one entry per bad field
(`{"path": "body.username", "message": ...}`). A value the database refuses (too long for
its column, a NUL byte, a number out of range) is a 422 `invalid-value`; a unique or
foreign-key conflict that slipped past the handlers' own checks is a 409 `conflict`.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("flowpbx.api")

_STATUS_IDS = {
    400: "bad-request",
    401: "unauthorized",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    409: "conflict",
    413: "too-large",
    415: "unsupported-media",
    422: "invalid-request",
    503: "unavailable",
}


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        error_id: str,
        message: str,
        details: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error_id = error_id
        self.message = message
        self.details = details
        self.headers = headers


def error_body(error_id: str, message: str, details: Any = None) -> dict[str, Any]:
    return {"error": {"id": error_id, "message": message, "details": details}}


def not_found(what: str, key: str) -> ApiError:
    return ApiError(404, f"{what}-not-found", f"{what} {key!r} does not exist")


def _loc(loc: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in loc)


async def _api_error(_req: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return JSONResponse(
        error_body(exc.error_id, exc.message, exc.details),
        status_code=exc.status,
        headers=exc.headers,
    )


async def _http_error(_req: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    error_id = _STATUS_IDS.get(exc.status_code, f"http-{exc.status_code}")
    return JSONResponse(
        error_body(error_id, str(exc.detail)),
        status_code=exc.status_code,
        headers=getattr(exc, "headers", None),
    )


async def _validation_error(_req: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    details = [
        {"path": _loc(tuple(e.get("loc", ()))), "message": str(e.get("msg", ""))}
        for e in exc.errors()
    ]
    first = details[0] if details else {"path": "", "message": "invalid request"}
    return JSONResponse(
        error_body("invalid-request", f"{first['path']}: {first['message']}", details),
        status_code=422,
    )


async def _db_data_error(_req: Request, exc: Exception) -> JSONResponse:
    return JSONResponse(
        error_body("invalid-value", "a value does not fit what the database can store"),
        status_code=422,
    )


async def _db_integrity_error(_req: Request, exc: Exception) -> JSONResponse:
    return JSONResponse(
        error_body("conflict", "the change conflicts with existing data"), status_code=409
    )


async def _db_error(req: Request, exc: Exception) -> JSONResponse:
    """Other driver errors: SQLSTATE class 22 (data) is the client's value, 23 a conflict."""
    orig = getattr(exc, "orig", None)
    code = str(getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None) or "")
    cause = getattr(orig, "__cause__", None)
    code = code or str(getattr(cause, "sqlstate", "") or "")
    if code.startswith("22") or "invalid byte sequence" in str(exc):
        return await _db_data_error(req, exc)
    if code.startswith("23"):
        return await _db_integrity_error(req, exc)
    log.error("database error on %s %s: %s", req.method, req.url.path, exc)
    return JSONResponse(
        error_body("database-error", "the database could not complete the request"),
        status_code=503,
    )


def install_error_handlers(app: FastAPI) -> None:
    from sqlalchemy.exc import DataError, DBAPIError, IntegrityError

    app.add_exception_handler(DataError, _db_data_error)
    app.add_exception_handler(IntegrityError, _db_integrity_error)
    app.add_exception_handler(DBAPIError, _db_error)
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
