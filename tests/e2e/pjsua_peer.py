"""pjsua2 (PJSIP) as an independent SIP user agent, run as its own process by the e2e tests.

``python -m tests.e2e.pjsua_peer --registrar 127.0.0.1:5060 --user 101 --password PW
--call 102 --transport tcp --hold-s 1.5`` registers over the given transport, calls the
target, holds the call (re-INVITE a=sendonly), resumes it (re-INVITE a=sendrecv), hangs up,
unregisters and prints one JSON object per line for every step (``{"step": "registered",
"code": 200}``, ``{"step": "media", "status": "local_hold"}``...). Exit code 0 when every step
happened, 1 otherwise (the JSON lines say which did not). No audio device (null device).
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


class Account(pj.Account):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__()
        self.reg_code: int | None = None
        self.incoming: Call | None = None

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
        self.state = ""
        self.media: list[str] = []

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


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--registrar", required=True)
    ap.add_argument("--user", required=True)
    ap.add_argument("--password", required=True)
    ap.add_argument("--call", help="number to call (hold, resume, hang up)")
    ap.add_argument("--answer", action="store_true", help="answer one call, wait for its BYE")
    ap.add_argument("--transport", default="tcp", choices=["udp", "tcp"])
    ap.add_argument("--hold-s", type=float, default=1.5)
    ap.add_argument("--timeout-s", type=float, default=15.0)
    args = ap.parse_args()

    ep = pj.Endpoint()
    ep.libCreate()
    cfg = pj.EpConfig()
    cfg.uaConfig.threadCnt = 0
    cfg.uaConfig.mainThreadOnly = True
    cfg.logConfig.level = 2
    cfg.logConfig.consoleLevel = 2
    ep.libInit(cfg)
    tcfg = pj.TransportConfig()
    tcfg.port = 0
    kind = pj.PJSIP_TRANSPORT_TCP if args.transport == "tcp" else pj.PJSIP_TRANSPORT_UDP
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

    suffix = f";transport={args.transport}"
    acfg = pj.AccountConfig()
    acfg.idUri = f"sip:{args.user}@{args.registrar}"
    acfg.regConfig.registrarUri = f"sip:{args.registrar}{suffix}"
    acfg.sipConfig.authCreds.append(pj.AuthCredInfo("digest", "*", args.user, 0, args.password))
    acfg.natConfig.sdpNatRewriteUse = 0
    acfg.natConfig.contactRewriteUse = 0
    acc = Account()
    acc.create(acfg)
    ok = pump(lambda: acc.reg_code is not None, "registration")
    ok = ok and acc.reg_code == 200
    if ok:
        emit(step="registered", code=acc.reg_code)
    if args.answer:
        ok = ok and answer_one(acc, pump)
        if acc.reg_code == 200:
            acc.reg_code = None
            acc.setRegistration(False)
            pump(lambda: acc.reg_code is not None, "unregister")
        acc.incoming = None
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
        end = time.monotonic() + 1.0
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
    ep.libDestroy()
    emit(step="done", ok=ok)
    return 0 if ok else 1


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    os._exit(code)  # skip the bindings' destructors after libDestroy
