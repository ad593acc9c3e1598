"""RTCP SR/RR: golden bytes, round trips, compound packets, report blocks from stats."""

from __future__ import annotations

import struct

import pytest

from flowpbx.media.rtp import (
    RTCP_RR,
    RTCP_SR,
    ReportBlock,
    RtcpReport,
    RtpHeader,
    RtpReceiveStats,
    SenderInfo,
    build_rtcp_rr,
    build_rtcp_sdes_cname,
    build_rtcp_sr,
    ntp_middle32,
    ntp_timestamp,
    parse_rtcp,
    parse_rtp,
    report_block,
)

BLOCK = ReportBlock(
    ssrc=0x11223344,
    fraction_lost=64,
    cumulative_lost=-2,
    highest_seq=0x0001_0005,
    jitter=37,
    lsr=0xAABBCCDD,
    dlsr=0x00010000,
)


def test_sr_golden_bytes() -> None:
    packet = build_rtcp_sr(
        ssrc=0x01020304,
        ntp=0x83AA7E80_80000000,
        rtp_timestamp=160,
        packet_count=2,
        octet_count=320,
        blocks=[BLOCK],
    )
    expected = bytes.fromhex(
        "81 c8 000c 01020304 83aa7e80 80000000 000000a0 00000002 00000140"
    ) + bytes.fromhex("11223344 40fffffe 00010005 00000025 aabbccdd 00010000")
    assert packet == expected
    assert len(packet) == 4 * (12 + 1)


def test_sr_round_trip() -> None:
    packet = build_rtcp_sr(
        ssrc=7,
        ntp=ntp_timestamp(1_700_000_000.5),
        rtp_timestamp=1,
        packet_count=3,
        octet_count=480,
        blocks=[BLOCK, BLOCK],
    )
    (report,) = parse_rtcp(packet) or []
    assert report == RtcpReport(
        packet_type=RTCP_SR,
        ssrc=7,
        sender_info=SenderInfo(
            ntp_timestamp=ntp_timestamp(1_700_000_000.5),
            rtp_timestamp=1,
            packet_count=3,
            octet_count=480,
        ),
        blocks=(BLOCK, BLOCK),
    )


def test_ntp_conversion() -> None:
    assert ntp_timestamp(0.0) == 2_208_988_800 << 32
    ntp = ntp_timestamp(0.25)
    assert ntp & 0xFFFFFFFF == 1 << 30
    assert ntp_middle32(ntp) == ((2_208_988_800 & 0xFFFF) << 16) | 0x4000


def test_rr_compound_with_sdes() -> None:
    compound = build_rtcp_rr(ssrc=9, blocks=[BLOCK]) + build_rtcp_sdes_cname(
        ssrc=9, cname="flowpbx@127.0.0.1"
    )
    assert len(compound) % 4 == 0
    reports = parse_rtcp(compound)
    assert reports == [RtcpReport(packet_type=RTCP_RR, ssrc=9, sender_info=None, blocks=(BLOCK,))]
    assert parse_rtp(compound) is None  # RFC 5761: RTCP on the RTP port is not RTP


def test_cumulative_lost_is_clamped_to_24_bits() -> None:
    big = ReportBlock(ssrc=1, fraction_lost=0, cumulative_lost=1 << 30, highest_seq=0, jitter=0)
    (report,) = parse_rtcp(build_rtcp_rr(ssrc=2, blocks=[big])) or []
    assert report.blocks[0].cumulative_lost == (1 << 23) - 1


@pytest.mark.parametrize(
    "data",
    [
        b"",
        build_rtcp_rr(ssrc=1)[:7],
        build_rtcp_sdes_cname(ssrc=1, cname="x"),  # must start with SR or RR
        bytes([0x40]) + build_rtcp_rr(ssrc=1)[1:],  # version 1
        build_rtcp_rr(ssrc=1, blocks=[BLOCK])[:-4],  # length says more than there is
        struct.pack("!BBH", 0x81, RTCP_RR, 1) + b"\x00" * 4,  # RC=1 without a block
        build_rtcp_rr(ssrc=1) + b"\x80",  # trailing garbage
    ],
)
def test_invalid_rtcp_is_rejected(data: bytes) -> None:
    assert parse_rtcp(data) is None


def test_too_many_blocks() -> None:
    with pytest.raises(ValueError):
        build_rtcp_rr(ssrc=1, blocks=[BLOCK] * 32)
    with pytest.raises(ValueError):
        build_rtcp_sr(
            ssrc=1, ntp=0, rtp_timestamp=0, packet_count=0, octet_count=0, blocks=[BLOCK] * 32
        )


def test_report_block_from_receive_stats() -> None:
    stats = RtpReceiveStats()
    assert report_block(stats) is None
    for seq in [s for s in range(100, 121) if s != 110]:
        header = RtpHeader(
            payload_type=0,
            marker=False,
            sequence=seq,
            timestamp=seq * 160,
            ssrc=0xCAFE,
            header_len=12,
            payload_end=172,
        )
        stats.update(header, arrival=seq * 160)
    block = report_block(stats, lsr=5, dlsr=6)
    assert block == ReportBlock(
        ssrc=0xCAFE,
        fraction_lost=(1 << 8) // 20,
        cumulative_lost=1,
        highest_seq=120,
        jitter=0,
        lsr=5,
        dlsr=6,
    )
    (report,) = parse_rtcp(build_rtcp_rr(ssrc=1, blocks=[block])) or []
    assert report.blocks == (block,)
