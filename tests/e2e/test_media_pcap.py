"""SIPp's own recordings through flowpbx (issue 5, end to end): the provider streams
/usr/share/sip-tester/g711a.pcap (A-law speech) and every dtmf_2833_*.pcap key into a DID
whose flow rings extension 101, a baresip phone (µ-law). The phone's recording of what it
heard correlates with the source speech, and it reports every key exactly once."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from tests.audio_analysis import alaw_decode, make_tone_wav, parse_rtp
from tests.e2e.conftest import Harness
from tests.e2e.peers import company_config, flow
from tests.e2e.server import FlowpbxServer
from tests.e2e.sipp import DTMF_PCAP_DIR, Sipp, dtmf_pcap
from tests.netutil import free_udp_port
from tests.pcap import read_udp_payloads

pytestmark = pytest.mark.e2e

DID = "+37167000009"
PASSWORD = "s3cret-101-media"
KEYS = "123456789*#0"  # the order pressed (the bundled pcaps' sequence numbers ascend)
G711A = DTMF_PCAP_DIR / "g711a.pcap"


def config(server: FlowpbxServer, trunk_port: int) -> dict[str, Any]:
    make_tone_wav(server.config_file("unused.wav"), 500, 0.2)
    ring = {"type": "call_sip", "params": {"extension": "101", "ring_timeout_s": 15}}
    return company_config(
        trunk_ports=[trunk_port],
        trunk_options={"transport": "udp", "register": False},
        extensions=[{"number": "101", "name": "Alice", "password": PASSWORD}],
        flows=[flow("Straight to 101", [DID], {"ring": ring}, first="ring")],
    )


def source_speech() -> np.ndarray:
    packets = [parse_rtp(p) for _t, _s, _d, p in read_udp_payloads(G711A)]
    return np.concatenate([alaw_decode(p.payload) for p in packets if p.payload_type == 8])


def best_correlation(chunk: np.ndarray, heard: np.ndarray) -> float:
    """Normalised correlation of `chunk` with its best-aligned stretch of `heard`."""
    a = chunk.astype(np.float64) - chunk.mean()
    b = heard.astype(np.float64)
    n = a.size
    if b.size < n:
        return 0.0
    corr = np.correlate(b - b.mean(), a, mode="valid")
    lag = int(np.argmax(corr))
    seg = b[lag : lag + n] - b[lag : lag + n].mean()
    denom = float(np.linalg.norm(a) * np.linalg.norm(seg))
    return float(np.dot(a, seg) / denom) if denom else 0.0


def test_sipp_pcap_audio_and_every_rfc4733_key_reach_the_phone(e2e: Harness) -> None:
    trunk_port = free_udp_port()
    server = FlowpbxServer(e2e.tmp_path, None)
    server.config = config(server, trunk_port)
    e2e.adopt(server)
    server.start()
    phone = e2e.baresip(
        name="m101", user="101", password=PASSWORD, registrar=server.sip, tone_hz=1000
    )
    phone.wait_registered(10)

    files = {"g711a.pcap": G711A}
    files.update({f"key_{i + 1:02d}.pcap": dtmf_pcap(k) for i, k in enumerate(KEYS)})
    provider = e2e.adopt_sipp(
        Sipp(
            "uac_pcap_dtmf.xml",
            e2e.tmp_path,
            remote=server.sip,
            local_port=trunk_port,
            service=DID,
            keys={"caller": "+37129000009"},
            files=files,
        )
    )
    provider.start()
    phone.wait_event("CALL_ESTABLISHED", 15)
    provider.check(timeout=40)
    phone.wait_event("CALL_CLOSED", 10)

    digits = [str(e.get("param")) for e in phone.events() if e.get("type") == "CALL_DTMF_START"]
    assert digits == list(KEYS), digits

    _, heard = phone.received_wav()
    speech = source_speech()
    # One second at a time, so a frame the phone's own jitter buffer drops or repeats
    # cannot hide a real defect or fake one; the silent tail of the sample is skipped.
    scores = [
        best_correlation(speech[i : i + 8000], heard)
        for i in range(0, speech.size - 8000, 8000)
        if np.sqrt(np.mean(speech[i : i + 8000].astype(np.float64) ** 2)) > 300
    ]
    assert len(scores) >= 4, scores
    assert min(scores) > 0.99, [round(s, 3) for s in scores]
