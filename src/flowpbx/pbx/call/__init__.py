"""Calls: how a new INVITE is routed, the live call and its legs, ringing, the talk phase.

routing.py      the pure decision for a new INVITE (flow, extension, spy, outbound, ...)
manager.py      CallManager: runs the decision, keeps the active calls, writes history
live.py         LiveCall: one caller leg and what the flow does with it (CallSession)
legs.py         SIP legs (UAS: the caller; UAC: what we ring) and their states
targets.py      RingTarget: one phone to ring
early_media.py  what the caller hears while phones ring
host.py         CallHost: what calls and features need of the runtime
"""
