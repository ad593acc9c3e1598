"""In-band DTMF on a real call (issue 5): a trunk that offers no telephone-event. SIPp as the
provider streams a second of recorded speech and then one key as a tone pair in the audio;
the flow's menu sees exactly that key (speech before it triggers nothing) and hangs up."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from flowpbx.media.audiofile import builtin_sample_path, load_audio
from flowpbx.media.tones import dtmf_tone
from tests.audio_analysis import _udp_frame, ulaw_encode, write_pcap
from tests.e2e.conftest import Harness
from tests.e2e.sipp import Sipp
from tests.netutil import free_udp_port

pytestmark = pytest.mark.e2e

DID = "+37167000010"


def inband_pcap(path: Path, key: str) -> Path:
    """PCMU RTP: 1.5 s of the built-in greeting (speech), 0.5 s of silence, `key` for 120 ms
    at about -12 dBFS, then 15 s of silence."""
    speech = load_audio(builtin_sample_path("greeting"))[:12000]
    audio = np.concatenate(
        [
            speech,
            np.zeros(4000, np.int16),
            dtmf_tone(key, 0.12, amplitude=0.25),
            np.zeros(8000 * 15, np.int16),
        ]
    )
    frames = []
    for i in range(audio.size // 160):
        rtp = struct.pack("!BBHII", 0x80, 0, (500 + i) & 0xFFFF, 8000 + 160 * i, 0x1B0B0B0B)
        rtp += ulaw_encode(audio[160 * i : 160 * (i + 1)])
        frames.append(
            (1_700_000_000.0 + 0.02 * i, _udp_frame(("10.0.0.1", 2), ("10.0.0.2", 4), rtp, i))
        )
    return write_pcap(path, frames)


def config(trunk_port: int) -> dict[str, Any]:
    return {
        "trunks": [
            {"name": "provider", "host": "127.0.0.1", "port": trunk_port, "transport": "udp"}
        ],
        "numbers": [{"number": DID, "trunk": "provider"}],
        "flows": [
            {
                "name": "Menu",
                "entry": "start",
                "nodes": {
                    "start": {
                        "type": "numbers",
                        "params": {"numbers": [DID]},
                        "next": {"next": "menu"},
                    },
                    "menu": {
                        "type": "menu",
                        "params": {
                            "prompt": "beep",
                            "timeout_s": 10,
                            "retries": 1,
                            "keys": ["1", "2", "3", "4", "5", "6", "7", "8", "9", "0"],
                        },
                        "next": {k: "bye" for k in "1234567890"},
                    },
                    "bye": {"type": "hangup", "params": {}},
                },
            }
        ],
    }


def test_inband_key_from_a_trunk_without_telephone_event_drives_the_menu(
    e2e: Harness,
) -> None:
    trunk_port = free_udp_port()
    server = e2e.server(config(trunk_port))
    provider = e2e.adopt_sipp(
        Sipp(
            "uac_inband_dtmf.xml",
            e2e.tmp_path,
            remote=server.sip,
            local_port=trunk_port,
            service=DID,
            keys={"caller": "+37129000010"},
        )
    )
    inband_pcap(provider.dir / "inband.pcap", "7")
    provider.start().check(timeout=40)  # the PBX hung up after the key: BYE -> 200
    (row,) = server.history()
    trace = row["trace"]
    outputs = [e.get("output") for e in trace if e.get("node") == "menu" and e.get("output")]
    assert outputs == ["7"], json.dumps(trace, indent=1)
