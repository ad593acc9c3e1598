"""Audio library over HTTP: real WAV/MP3/OGG uploads converted to 8 kHz, streamed with
ranges; garbage, empty, oversize and over-long files refused with nothing stored; the
409 rule for files a published flow uses."""

from __future__ import annotations

import io
from pathlib import Path

import httpx
import numpy as np
import pytest
import soundfile as sf

from flowpbx.store.db import Store
from flowpbx.store.records import NumberRec, TrunkRec
from flowpbx.store.repos.numbers import upsert_number
from flowpbx.store.repos.trunks import upsert_trunk
from tests.api.conftest import bearer


def tone(path: Path, freq: float, seconds: float, rate: int, fmt: str, subtype: str | None) -> None:
    t = np.arange(int(seconds * rate)) / rate
    mono = 0.5 * np.sin(2 * np.pi * freq * t)
    stereo = np.stack([mono, mono], axis=1)
    sf.write(path, stereo, rate, format=fmt, subtype=subtype)


def peak_hz(samples: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples.astype(np.float64)))
    return float(np.fft.rfftfreq(samples.size, 1 / rate)[int(np.argmax(spectrum))])


def stored_files(store: Store) -> list[str]:
    audio_dir = store.data_dir / "audio"
    return sorted(p.name for p in audio_dir.iterdir()) if audio_dir.exists() else []


async def upload(
    client: httpx.AsyncClient, token: str, name: str, data: bytes, filename: str
) -> httpx.Response:
    return await client.post(
        "/api/v1/audio",
        data={"name": name},
        files={"file": (filename, data, "application/octet-stream")},
        headers=bearer(token),
    )


@pytest.mark.parametrize(
    ("fmt", "subtype", "freq"),
    [("WAV", "PCM_16", 440.0), ("MP3", "MPEG_LAYER_III", 660.0), ("OGG", "VORBIS", 880.0)],
)
async def test_upload_converts_and_plays_back(
    store: Store, client: httpx.AsyncClient, token: str, tmp_path: Path, fmt: str,
    subtype: str, freq: float,
) -> None:  # fmt: skip
    src = tmp_path / f"in.{fmt.lower()}"
    tone(src, freq, 2.0, 44100, fmt, subtype)
    r = await upload(client, token, f"tone-{fmt.lower()}", src.read_bytes(), "whatever.bin")
    assert r.status_code == 201, r.text
    info = r.json()
    assert info["builtin"] is False and info["used_by"] == []
    assert info["duration_s"] == pytest.approx(2.0, abs=0.1)
    f = await client.get(f"/api/v1/audio/tone-{fmt.lower()}/file", headers=bearer(token))
    assert f.status_code == 200 and f.headers["content-type"] == "audio/wav"
    pcm, rate = sf.read(io.BytesIO(f.content), dtype="int16")
    assert rate == 8000 and pcm.ndim == 1
    assert peak_hz(pcm[2000:14000], rate) == pytest.approx(freq, abs=10)
    rms = float(np.sqrt(np.mean((pcm[2000:14000] / 32768.0) ** 2)))
    assert 0.05 < rms < 0.2  # the tone survived, loudness-normalised (about -20 dBFS)
    # range requests, so the browser can seek
    part = await client.get(
        f"/api/v1/audio/tone-{fmt.lower()}/file",
        headers={**bearer(token), "Range": "bytes=100-199"},
    )
    assert part.status_code == 206 and part.content == f.content[100:200]
    names = [a["name"] for a in (await client.get("/api/v1/audio", headers=bearer(token))).json()]
    assert f"tone-{fmt.lower()}" in names and "greeting" in names
    assert stored_files(store) == [f"tone-{fmt.lower()}.wav"]  # no temporary files left


async def test_bad_uploads_are_refused_and_nothing_is_stored(
    store: Store, client: httpx.AsyncClient, token: str, tmp_path: Path
) -> None:
    before = (await client.get("/api/v1/audio", headers=bearer(token))).json()
    # garbage named like audio
    r = await upload(client, token, "junk", b"this is not audio at all" * 100, "junk.wav")
    assert r.status_code == 415 and r.json()["error"]["id"] == "unsupported-media"
    # empty
    r = await upload(client, token, "empty", b"", "empty.wav")
    assert r.status_code == 422 and r.json()["error"]["id"] == "empty-file"
    # larger than 20 MB
    big = b"RIFF" + bytes(21 * 1024 * 1024)
    r = await upload(client, token, "big", big, "big.wav")
    assert r.status_code == 413 and r.json()["error"]["id"] == "too-large"
    # longer than 10 minutes (small file: 601 s of 8-bit audio at 1 kHz)
    long_wav = tmp_path / "long.wav"
    sf.write(long_wav, np.zeros(601 * 1000, np.int16), 1000, subtype="PCM_U8")
    r = await upload(client, token, "long", long_wav.read_bytes(), "long.wav")
    assert r.status_code == 413 and r.json()["error"]["id"] == "too-long"
    # bad names, built-in names
    wav = tmp_path / "ok.wav"
    tone(wav, 440, 0.5, 8000, "WAV", "PCM_16")
    r = await upload(client, token, "../etc/passwd", wav.read_bytes(), "ok.wav")
    assert r.status_code == 422 and r.json()["error"]["details"][0]["path"] == "body.name"
    r = await upload(client, token, "greeting", wav.read_bytes(), "ok.wav")
    assert r.status_code == 409 and r.json()["error"]["id"] == "audio-builtin"
    r = await client.post("/api/v1/audio", data={"name": "x"}, headers=bearer(token))
    assert r.status_code == 422 and r.json()["error"]["details"][0]["path"] == "body.file"
    assert (await client.get("/api/v1/audio", headers=bearer(token))).json() == before
    assert stored_files(store) == []
    # the same name twice
    assert (await upload(client, token, "ok", wav.read_bytes(), "ok.wav")).status_code == 201
    r = await upload(client, token, "ok", wav.read_bytes(), "ok.wav")
    assert r.status_code == 409 and r.json()["error"]["id"] == "audio-exists"
    assert stored_files(store) == ["ok.wav"]


async def test_delete_refuses_audio_a_published_flow_plays(
    store: Store, client: httpx.AsyncClient, token: str, tmp_path: Path
) -> None:
    h = bearer(token)
    wav = tmp_path / "w.wav"
    tone(wav, 440, 0.5, 8000, "WAV", "PCM_16")
    assert (await upload(client, token, "welcome", wav.read_bytes(), "w.wav")).status_code == 201
    async with store.transaction() as s:
        await upsert_trunk(s, TrunkRec(name="p", host="127.0.0.1"))
        await upsert_number(s, NumberRec(number="+37167000001", trunk="p", position=1))
    flow = {
        "name": "Main line",
        "entry": "start",
        "nodes": {
            "start": {
                "type": "numbers",
                "params": {"numbers": ["+37167000001"]},
                "next": {"next": "hi"},
            },
            "hi": {"type": "play", "params": {"audio": "welcome"}},
        },
    }
    await client.post("/api/v1/flows", json=flow, headers=h)
    # a draft alone does not hold the file
    assert (await client.get("/api/v1/audio/welcome", headers=h)).json()["used_by"] == []
    assert (await client.post("/api/v1/flows/Main line/publish", headers=h)).status_code == 200
    assert (await client.get("/api/v1/audio/welcome", headers=h)).json()["used_by"] == ["Main line"]
    r = await client.delete("/api/v1/audio/welcome", headers=h)
    assert r.status_code == 409
    err = r.json()["error"]
    assert err["id"] == "audio-in-use" and err["details"] == {"flows": ["Main line"]}
    assert "Main line" in err["message"]
    r = await client.delete("/api/v1/audio/greeting", headers=h)
    assert r.status_code == 409 and r.json()["error"]["id"] == "audio-builtin"
    # once the flow is gone the file may go
    assert (await client.delete("/api/v1/flows/Main line", headers=h)).status_code == 204
    assert (await client.delete("/api/v1/audio/welcome", headers=h)).status_code == 204
    assert stored_files(store) == []
    assert (await client.get("/api/v1/audio/welcome/file", headers=h)).status_code == 404
    # built-in samples stream too
    g = await client.get("/api/v1/audio/greeting/file", headers=h)
    assert g.status_code == 200 and sf.info(io.BytesIO(g.content)).samplerate == 8000
