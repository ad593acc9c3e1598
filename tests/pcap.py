"""A tiny reader for classic libpcap capture files: the UDP payloads they contain.

`read_udp_payloads(path)` -> list of `(timestamp_s, (src_ip, src_port), (dst_ip, dst_port),
payload)` in file order. Handles both byte orders and micro/nanosecond timestamps; link
types Ethernet (1, with 802.1Q VLAN tags), BSD loopback (0), raw IP (101, 228/229),
Linux cooked v1 (113) and v2 (276); IPv4 and IPv6 (no extension headers besides none).
IP fragments other than the first, and non-UDP packets, are skipped.

Raises ValueError for a file that is not a classic pcap or uses another link type.
"""

from __future__ import annotations

import ipaddress
import struct
from pathlib import Path

Addr = tuple[str, int]
UdpRecord = tuple[float, Addr, Addr, bytes]

_MAGIC = {
    b"\xd4\xc3\xb2\xa1": ("<", 1e-6),
    b"\xa1\xb2\xc3\xd4": (">", 1e-6),
    b"\x4d\x3c\xb2\xa1": ("<", 1e-9),
    b"\xa1\xb2\x3c\x4d": (">", 1e-9),
}
_ETH_IPV4 = 0x0800
_ETH_IPV6 = 0x86DD
_ETH_VLAN = (0x8100, 0x88A8)
_UDP = 17


def _ip_offset(linktype: int, frame: bytes) -> int | None:
    """Offset of the IP header in a link-layer frame, None if it does not carry IP."""
    if linktype == 1:  # Ethernet
        off = 12
        (ethertype,) = struct.unpack_from("!H", frame, off)
        while ethertype in _ETH_VLAN:
            off += 4
            (ethertype,) = struct.unpack_from("!H", frame, off)
        return off + 2 if ethertype in (_ETH_IPV4, _ETH_IPV6) else None
    if linktype == 0:  # BSD loopback: 4-byte address family in host order
        return 4
    if linktype in (101, 228, 229):  # raw IP
        return 0
    if linktype == 113:  # Linux cooked v1: protocol at 14
        (proto,) = struct.unpack_from("!H", frame, 14)
        return 16 if proto in (_ETH_IPV4, _ETH_IPV6) else None
    if linktype == 276:  # Linux cooked v2: protocol at 0
        (proto,) = struct.unpack_from("!H", frame, 0)
        return 20 if proto in (_ETH_IPV4, _ETH_IPV6) else None
    raise ValueError(f"unsupported pcap link type {linktype}")


def _udp_of(packet: bytes) -> tuple[Addr, Addr, bytes] | None:
    version = packet[0] >> 4
    if version == 4:
        ihl = (packet[0] & 0x0F) * 4
        total_len, frag, proto = (
            struct.unpack_from("!H", packet, 2)[0],
            struct.unpack_from("!H", packet, 6)[0],
            packet[9],
        )
        if proto != _UDP or frag & 0x1FFF:
            return None
        src = str(ipaddress.IPv4Address(packet[12:16]))
        dst = str(ipaddress.IPv4Address(packet[16:20]))
        udp = packet[ihl : max(total_len, ihl)] if total_len else packet[ihl:]
    elif version == 6:
        if packet[6] != _UDP:
            return None
        (plen,) = struct.unpack_from("!H", packet, 4)
        src = str(ipaddress.IPv6Address(packet[8:24]))
        dst = str(ipaddress.IPv6Address(packet[24:40]))
        udp = packet[40 : 40 + plen]
    else:
        return None
    if len(udp) < 8:
        return None
    sport, dport, ulen = struct.unpack_from("!HHH", udp)
    payload = udp[8:ulen] if ulen >= 8 else udp[8:]
    return (src, sport), (dst, dport), bytes(payload)


def read_udp_payloads(path: str | Path) -> list[UdpRecord]:
    """Every UDP datagram in a classic pcap file: (time, src, dst, payload)."""
    data = Path(path).read_bytes()
    if len(data) < 24 or data[:4] not in _MAGIC:
        raise ValueError(f"{path}: not a classic pcap file")
    endian, tick = _MAGIC[data[:4]]
    linktype = struct.unpack_from(endian + "I", data, 20)[0] & 0x0FFFFFFF
    record = struct.Struct(endian + "IIII")
    out: list[UdpRecord] = []
    off = 24
    while off + 16 <= len(data):
        sec, frac, incl, _orig = record.unpack_from(data, off)
        off += 16
        frame = data[off : off + incl]
        off += incl
        if len(frame) < incl:
            break  # truncated capture
        try:
            ip_off = _ip_offset(linktype, frame)
            if ip_off is None:
                continue
            udp = _udp_of(frame[ip_off:])
        except (struct.error, IndexError):
            continue  # a frame cut short by the snap length
        if udp is not None:
            out.append((sec + frac * tick, udp[0], udp[1], udp[2]))
    return out
