"""SRTP on the RTP endpoint's socket calls (pbx/rtp/endpoint.py `use_srtp`): the crypto is
media/srtp.py's `SrtpContext` (libsrtp); this is only the I/O glue around it."""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

from flowpbx.media.srtp import SrtpContext

__all__ = ["SrtpSocket", "srtp_recv", "srtp_recvfrom", "srtp_send"]


# -- socket wrappers: what an RTP endpoint reads and sends with once SRTP is on --------------
# The endpoint's per-packet path calls `recv`/`recvfrom`/`send`/`sendto`; these do the same
# with SRTP in between. A datagram that fails authentication reads as "nothing there"
# (BlockingIOError): the caller returns and the level-triggered reader wakes it for the next.

_Addr = tuple[str, int]


class SrtpSocket:
    """An `RtpSocket` (pbx/rtp/endpoint.py) that protects each packet before sending it."""

    __slots__ = ("_protect", "_sendto", "sock")

    def __init__(self, sock: socket.socket, context: SrtpContext) -> None:
        self.sock = sock
        self._sendto = sock.sendto
        self._protect = context.protect

    def sendto(self, data: bytes | bytearray, addr: _Addr) -> None:
        packet = self._protect(data)
        if packet is None:
            return
        try:
            self._sendto(packet, addr)
        except OSError:
            pass


def srtp_recv(recv: Callable[[int], bytes], context: SrtpContext) -> Callable[[int], bytes]:
    unprotect = context.unprotect

    def recv_srtp(size: int) -> bytes:
        data = unprotect(recv(size))
        if data is None:
            raise BlockingIOError
        return data

    return recv_srtp


def srtp_recvfrom(
    recvfrom: Callable[[int], tuple[bytes, Any]], context: SrtpContext
) -> Callable[[int], tuple[bytes, Any]]:
    unprotect = context.unprotect

    def recvfrom_srtp(size: int) -> tuple[bytes, Any]:
        data, addr = recvfrom(size)
        plain = unprotect(data)
        if plain is None:
            raise BlockingIOError
        return plain, addr

    return recvfrom_srtp


def srtp_send(
    send: Callable[[bytes], int], context: SrtpContext
) -> Callable[[bytes | bytearray], int]:
    protect = context.protect

    def send_srtp(data: bytes | bytearray) -> int:
        packet = protect(data)
        return 0 if packet is None else send(packet)

    return send_srtp
