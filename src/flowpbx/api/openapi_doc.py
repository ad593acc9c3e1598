"""The OpenAPI document: every 4xx/5xx answer has the one error shape (SPEC §6)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

COMMON_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "not logged in (no or an unknown token)"},
    403: {"description": "a viewer tried to write, or the CSRF header is missing"},
    404: {"description": "no such resource (the error id names what is missing)"},
    422: {"description": "invalid input: `details` lists the path of each bad field"},
}
ERROR_SCHEMA: dict[str, Any] = {
    "title": "Error",
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["id", "message", "details"],
            "properties": {
                "id": {"type": "string", "examples": ["flow-not-found"]},
                "message": {"type": "string"},
                "details": {},
            },
        }
    },
}
_DESCRIPTIONS = {
    "401": "not logged in",
    "403": "forbidden",
    "404": "not found",
    "409": "conflict (exists, in use)",
    "413": "too large",
    "415": "unsupported media",
    "422": "invalid input: `details` lists the path of each bad field",
    "429": "too many attempts",
    "501": "the running PBX does not offer this action yet",
    "503": "the PBX is not running in this process",
}
_GENERIC = {"Validation Error", "Additional Response", ""}


def document_errors(app: FastAPI) -> None:
    """Replace `app.openapi` with one that documents the error shape on every error status."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title,
            version=app.version,
            description=app.description,
            routes=app.routes,
        )
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components["Error"] = ERROR_SCHEMA
        components.pop("HTTPValidationError", None)
        components.pop("ValidationError", None)
        ref = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
        for item in schema.get("paths", {}).values():
            for op in item.values():
                for status, response in op.get("responses", {}).items():
                    if str(status)[0] in "45":
                        response["content"] = ref
                        if response.get("description", "") in _GENERIC or str(status) in ("422",):
                            response["description"] = _DESCRIPTIONS.get(str(status), "error")
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
