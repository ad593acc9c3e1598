"""The REST API under /api/v1 (SPEC §6): one router module per resource."""

from flowpbx.api.app import create_api
from flowpbx.api.live import LiveService

__all__ = ["LiveService", "create_api"]
