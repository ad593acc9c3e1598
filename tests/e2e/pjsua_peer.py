"""pjsua2 (PJSIP) as an independent SIP user agent, run as its own process by the e2e tests.

``python -m tests.e2e.pjsua_peer --registrar 127.0.0.1:5060 --user 101 --password PW
--call 102 --transport tcp --hold-s 1.5`` registers over the given transport, calls the
target, holds the call (re-INVITE a=sendonly), resumes it (re-INVITE a=sendrecv), hangs up,
unregisters and prints one JSON object per line for every step (``{"step": "registered",
"code": 200}``, ``{"step": "media", "status": "local_hold"}``...). Exit code 0 when every step
happened, 1 otherwise (the JSON lines say which did not). No audio device (null device);
``--tone-hz F`` sends a steady tone of F Hz on every call instead of silence; ``--record WAV``
writes what the calls bring in (8 kHz) to WAV; ``--srtp`` makes SDES-SRTP mandatory (RTP/SAVP
with a=crypto).

Transfer button (REFER, RFC 3515/3891): ``--answer --transfer blind --xfer-to 103`` answers
one call, talks ``--talk-s``, then ``call.xfer()`` to 103; ``--transfer attended`` holds the
answered call, calls ``--xfer-to`` (the consultation), talks ``--talk-s`` again and sends
``xferReplaces`` — on the original call naming the consultation (``--refer-on original``) or
the other way round (``--refer-on consult``); with ``--consult-early`` as soon as the
consultation rings (semi-attended). Then it waits for the final NOTIFY
(``{"step": "xfer_status", "code": 200, "final": true}``); with ``--expect-status 200`` (the
default) flowpbx must release every call (BYE), else the peer hangs its calls up itself.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable

import pjsua2 as pj


def emit(**fields: object) -> None:
    print(json.dumps(fields), flush=True)


_MEDIA_STATUS = {
    pj.PJSUA_CALL_MEDIA_NONE: "none",
    pj.PJSUA_CALL_MEDIA_ACTIVE: "active",
    pj.PJSUA_CALL_MEDIA_LOCAL_HOLD: "local_hold",
    pj.PJSUA_CALL_MEDIA_REMOTE_HOLD: "remote_hold",
    pj.PJSUA_CALL_MEDIA_ERROR: "error",
}


class Tone:
    """A steady tone sent into every call whose media becomes active (--tone-hz)."""

    def __init__(self, freq: float) -> None:
        self.gen = pj.ToneGenerator()
        self.gen.createToneGenerator(8000, 1)
        desc = pj.ToneDesc()
        desc.freq1 = int(freq)
        desc.freq2 = int(freq)
        desc.on_msec = 10000
        desc.off_msec = 0
        desc.volume = 0
        tones = pj.ToneDescVector()
        tones.append(desc)
        self.gen.play(tones, True)

    def send_to(self, call: pj.Call) -> None:
        self.gen.startTransmit(call.getAudioMedia(-1))


class Account(pj.Account):  # type: ignore[misc]
    def __init__(self, tone: Tone | None = None, recorder: object | None = None) -> None:
        super().__init__()
        self.reg_code: int | None = None
        self.incoming: Call | None = None
        self.tone = tone
        self.recorder = recorder

    def onIncomingCall(self, prm: pj.OnIncomingCallParam) -> None:
        call = Call(self, prm.callId)
        self.incoming = call
        whole = str(prm.rdata.wholeMsg)
        via = next((ln for ln in whole.splitlines() if ln.lower().startswith("via:")), "")
        emit(step="incoming", source=str(prm.rdata.srcAddress), via=via)
        op = pj.CallOpParam()
        op.statusCode = 200
        call.answer(op)

    def onRegState(self, prm: pj.OnRegStateParam) -> None:
        self.reg_code = int(prm.code)
        emit(step="reg_state", code=self.reg_code, expiration=int(prm.expiration))


class Call(pj.Call):  # type: ignore[misc]
    def __init__(self, acc: Account, call_id: int = pj.PJSUA_INVALID_ID) -> None:
        super().__init__(acc, call_id)
        self.acc = acc
        self.state = ""
        self.media: list[str] = []
        self.xfer_final: int | None = None

    def onCallState(self, prm: pj.OnCallStateParam) -> None:
        ci = self.getInfo()
        self.state = str(ci.stateText)
        emit(step="call_state", state=self.state, code=int(ci.lastStatusCode))

    def onCallMediaState(self, prm: pj.OnCallMediaStateParam) -> None:
        ci = self.getInfo()
        for m in ci.media:
            if m.type == pj.PJMEDIA_TYPE_AUDIO:
                status = _MEDIA_STATUS.get(m.status, str(m.status))
                self.media.append(status)
                emit(step="media", status=status, dir=int(m.dir))
                if status == "active" and self.acc.tone is not None:
                    self.acc.tone.send_to(self)
                if status == "active" and self.acc.recorder is not None:
                    self.getAudioMedia(-1).startTransmit(self.acc.recorder)

    def onCallTransferStatus(self, prm: pj.OnCallTransferStatusParam) -> None:
        code = int(prm.statusCode)
        emit(step="xfer_status", code=code, final=bool(prm.finalNotify))
        if prm.finalNotify or code >= 300:
            self.xfer_final = code


def answer_one(acc: Account, pump: Callable[[Callable[[], bool], str], bool]) -> bool:
    """Answer the next incoming call (over the registration's connection) and wait for the
    caller to hang up."""

    def state() -> str:
        return acc.incoming.state if acc.incoming is not None else ""

    if not pump(lambda: state() == "CONFIRMED", "incoming call"):
        return False
    emit(step="answered")
    if not pump(lambda: state() == "DISCONNECTED", "remote hangup"):
        return False
    emit(step="remote_hung_up")
    return True


def transfer(
    args: argparse.Namespace,
    acc: Account,
    pump: Callable[[Callable[[], bool], str], bool],
    wait: Callable[[float], None],
) -> bool:
    """Answer one call, then transfer it with the phone's button (blind or attended)."""
    suffix = f";transport={args.transport}"
    target = f"sip:{args.xfer_to}@{args.registrar}{suffix}"
    if not pump(lambda: acc.incoming is not None and acc.incoming.state == "CONFIRMED", "call"):
        return False
    original = acc.incoming
    assert original is not None
    emit(step="answered")
    wait(args.talk_s)
    calls = [original]
    if args.transfer == "blind":
        refer, dest = original, None
    else:
        original.setHold(pj.CallOpParam(True))
        if not pump(lambda: "local_hold" in original.media, "hold"):
            return False
        consult = Call(acc)
        calls.append(consult)
        consult.makeCall(target, pj.CallOpParam(True))
        if args.consult_early:  # semi-attended: transfer while the target still rings
            if not pump(lambda: consult.state == "EARLY", "consultation ringing"):
                return False
            emit(step="consult_ringing")
        else:
            if not pump(lambda: consult.state == "CONFIRMED", "consultation answer"):
                return False
            emit(step="consulting")
            wait(args.talk_s)
        refer, dest = (original, consult) if args.refer_on == "original" else (consult, original)
    if dest is None:
        refer.xfer(target, pj.CallOpParam(True))
    else:
        refer.xferReplaces(dest, pj.CallOpParam(True))
    emit(step="refer_sent", on=args.refer_on if dest is not None else "original")
    if not pump(lambda: refer.xfer_final is not None, "final NOTIFY"):
        return False
    ok = bool(refer.xfer_final == args.expect_status)
    if args.expect_status < 300:
        # flowpbx releases both of the transferer's dialogs (BYE): we never hang up here.
        released = pump(lambda: all(c.state == "DISCONNECTED" for c in calls), "release")
        if released:
            emit(step="released")
        ok = ok and released
    else:
        wait(1.0)  # the refused transfer leaves the calls up: end them ourselves
        if all(c.state == "CONFIRMED" for c in calls):
            emit(step="calls_kept")
        else:
            ok = False
        for c in calls:
            if c.state != "DISCONNECTED":
                c.hangup(pj.CallOpParam(True))
        ok = pump(lambda: all(c.state == "DISCONNECTED" for c in calls), "hangup") and ok
    acc.incoming = None
    calls.clear()
    return ok


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--registrar", required=True)
    ap.add_argument("--user", required=True)
    ap.add_argument("--password", required=True)
    ap.add_argument("--call", help="number to call (hold, resume, hang up)")
    ap.add_argument("--answer", action="store_true", help="answer one call, wait for its BYE")
    ap.add_argument("--transport", default="tcp", choices=["udp", "tcp", "tls"])
    ap.add_argument("--tls-ca", default="", help="CA file verifying the PBX (with tls)")
    ap.add_argument("--hold-s", type=float, default=1.5)
    ap.add_argument("--after-resume-s", type=float, default=1.0, help="talk after resuming")
    ap.add_argument("--timeout-s", type=float, default=15.0)
    ap.add_argument("--tone-hz", type=float, default=0.0)
    ap.add_argument("--transfer", choices=["blind", "attended"])
    ap.add_argument("--xfer-to", default="")
    ap.add_argument("--refer-on", default="original", choices=["original", "consult"])
    ap.add_argument("--consult-early", action="store_true", help="transfer while it rings")
    ap.add_argument("--talk-s", type=float, default=2.0)
    ap.add_argument("--expect-status", type=int, default=200)
    ap.add_argument("--srtp", action="store_true", help="SDES-SRTP mandatory (RTP/SAVP)")
    ap.add_argument("--record", default="", help="WAV file for the audio the calls bring in")
    args = ap.parse_args()

    ep = pj.Endpoint()
    ep.libCreate()
    cfg = pj.EpConfig()
    cfg.uaConfig.threadCnt = 0
    cfg.uaConfig.mainThreadOnly = True
    cfg.logConfig.level = 2
    cfg.logConfig.consoleLevel = 2
    if args.record:  # an 8 kHz bridge: the recording is at the rate the tests analyse
        cfg.medConfig.clockRate = 8000
        cfg.medConfig.sndClockRate = 8000
    ep.libInit(cfg)
    tcfg = pj.TransportConfig()
    tcfg.port = 0
    kind = {
        "tcp": pj.PJSIP_TRANSPORT_TCP,
        "tls": pj.PJSIP_TRANSPORT_TLS,
        "udp": pj.PJSIP_TRANSPORT_UDP,
    }[args.transport]
    if args.transport == "tls":  # verify the PBX's certificate against the test CA
        tcfg.tlsConfig.CaListFile = args.tls_ca
        tcfg.tlsConfig.verifyServer = True
        tcfg.tlsConfig.method = pj.PJSIP_TLSV1_2_METHOD
    ep.transportCreate(kind, tcfg)
    ep.libStart()
    ep.audDevManager().setNullDev()
    for codec in ep.codecEnum2():  # G.711 only, like the PBX
        prio = 255 if codec.codecId.startswith(("PCMU/", "PCMA/")) else 0
        ep.codecSetPriority(codec.codecId, prio)

    def pump(until: Callable[[], bool], what: str) -> bool:
        deadline = time.monotonic() + args.timeout_s
        while time.monotonic() < deadline:
            ep.libHandleEvents(20)
            if until():
                return True
        emit(step="timeout", waiting_for=what)
        return False

    def wait(seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            ep.libHandleEvents(20)

    suffix = f";transport={args.transport}"
    acfg = pj.AccountConfig()
    acfg.idUri = f"sip:{args.user}@{args.registrar}"
    acfg.regConfig.registrarUri = f"sip:{args.registrar}{suffix}"
    acfg.sipConfig.authCreds.append(pj.AuthCredInfo("digest", "*", args.user, 0, args.password))
    acfg.natConfig.sdpNatRewriteUse = 0
    acfg.natConfig.contactRewriteUse = 0
    if args.srtp:  # keys in SDP over this transport: the PBX under test must allow it
        acfg.mediaConfig.srtpUse = pj.PJMEDIA_SRTP_MANDATORY
        acfg.mediaConfig.srtpSecureSignaling = 0
    recorder = None
    if args.record:
        recorder = pj.AudioMediaRecorder()
        recorder.createRecorder(args.record)
    acc = Account(Tone(args.tone_hz) if args.tone_hz else None, recorder)
    acc.create(acfg)
    ok = pump(lambda: acc.reg_code is not None, "registration")
    ok = ok and acc.reg_code == 200
    if ok:
        emit(step="registered", code=acc.reg_code)
    if args.answer:
        if args.transfer:
            ok = ok and transfer(args, acc, pump, wait)
        else:
            ok = ok and answer_one(acc, pump)
        if acc.reg_code == 200:
            acc.reg_code = None
            acc.setRegistration(False)
            pump(lambda: acc.reg_code is not None, "unregister")
        acc.incoming = None
        acc.tone = None  # its conference port must go while the library is up
        acc.recorder = recorder = None
        ep.libDestroy()
        emit(step="done", ok=ok)
        return 0 if ok else 1
    call = Call(acc)
    if ok:
        call.makeCall(f"sip:{args.call}@{args.registrar}{suffix}", pj.CallOpParam(True))
        ok = pump(lambda: call.state == "CONFIRMED", "answer")
    if ok:
        end = time.monotonic() + 1.0
        while time.monotonic() < end:
            ep.libHandleEvents(20)
        call.setHold(pj.CallOpParam(True))
        ok = pump(lambda: "local_hold" in call.media, "hold")
    if ok:
        emit(step="held")
        end = time.monotonic() + args.hold_s
        while time.monotonic() < end:
            ep.libHandleEvents(20)
        prm = pj.CallOpParam(True)
        prm.opt.flag = pj.PJSUA_CALL_UNHOLD
        call.reinvite(prm)
        ok = pump(lambda: call.media[-1:] == ["active"] and "local_hold" in call.media, "resume")
    if ok:
        emit(step="resumed")
        end = time.monotonic() + args.after_resume_s
        while time.monotonic() < end:
            ep.libHandleEvents(20)
        call.hangup(pj.CallOpParam(True))
        ok = pump(lambda: call.state == "DISCONNECTED", "hangup")
    if ok:
        emit(step="hung_up")
    # pjsua2 wants a disconnected Call object deleted while the library is still up.
    holder = [call]
    call = None  # type: ignore[assignment]
    holder.clear()
    if acc.reg_code == 200:
        acc.reg_code = None
        acc.setRegistration(False)
        pump(lambda: acc.reg_code is not None, "unregister")
    acc.tone = None
    acc.recorder = recorder = None
    ep.libDestroy()
    emit(step="done", ok=ok)
    return 0 if ok else 1


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    os._exit(code)  # skip the bindings' destructors after libDestroy
