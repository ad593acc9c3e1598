"""/api/v1/security/bans: SIP source addresses banned for repeated failed authentication
(SPEC §7, pbx/security.py), visible and liftable. Needs the live PBX (503 without one)."""

from __future__ import annotations

import ipaddress

from fastapi import APIRouter
from pydantic import BaseModel

from flowpbx.api.deps import AdminDep, LiveDep, UserDep
from flowpbx.api.errors import ApiError, not_found
from flowpbx.api.live_actions import require_live

router = APIRouter(prefix="/api/v1/security", tags=["security"])


class BanOut(BaseModel):
    ip: str
    reason: str
    remaining_s: float


@router.get("/bans", response_model=list[BanOut], responses={503: {}})
async def list_bans(live: LiveDep, _user: UserDep) -> list[BanOut]:
    return [BanOut(**b) for b in require_live(live).bans()]


@router.delete("/bans/{ip}", status_code=204, responses={404: {}, 422: {}, 503: {}})
async def lift_ban(ip: str, live: LiveDep, _admin: AdminDep) -> None:
    """Lift the ban on one address at once (a phone locked out by mistyped passwords)."""
    try:
        ipaddress.ip_address(ip)
    except ValueError:
        raise ApiError(
            422, "invalid-ip", f"{ip!r} is not an IP address", details={"path": ["ip"]}
        ) from None
    if not require_live(live).lift_ban(ip):
        raise not_found("ban", ip)
