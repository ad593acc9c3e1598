"""GET /api/v1/sip-server: where phones register — what "Copy SIP settings" hands a user.

``{"host", "port", "transports", "realm"}``: the SIP listen address of the running PBX
(``host`` is null when it listens on every address, 0.0.0.0 or ::, since then only the
client knows which of the machine's names it reaches; ``host`` and ``port`` are null
without a PBX in this process), the transports it serves and the digest realm. A phone
registers as ``EXTENSION@host`` with its password. Any signed-in user may read it.
"""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from flowpbx.api.deps import LiveDep, StoreDep, UserDep

router = APIRouter(prefix="/api/v1/sip-server", tags=["extensions"])

TRANSPORTS = ["udp", "tcp"]  # what the PBX listens on (pbx/transport.py)


class SipServerOut(BaseModel):
    host: str | None
    port: int | None
    transports: list[str]
    realm: str
    tls_port: int | None = None  # SIP over TLS, when the PBX listens on it (pbx/tls.py)


@router.get("", response_model=SipServerOut)
async def sip_server(store: StoreDep, live: LiveDep, _user: UserDep) -> SipServerOut:
    host: str | None = None
    port: int | None = None
    address: tuple[str, int] | None = None
    if live is not None:
        try:
            address = live.sip_address
        except RuntimeError:  # the PBX is not running (yet)
            address = None
    if address is not None:
        host, port = str(address[0]), int(address[1])
        if host in ("0.0.0.0", "::", ""):
            host = None
    tls_port: int | None = None
    if live is not None:
        try:
            tls_port = live.sip_tls_port
        except RuntimeError:  # the PBX is not running (yet, or any more)
            tls_port = None
    transports = TRANSPORTS + (["tls"] if tls_port is not None else [])
    return SipServerOut(
        host=host, port=port, transports=transports, realm=store.sip_realm, tls_port=tls_port
    )
