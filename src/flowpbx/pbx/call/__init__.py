"""Calls: how a new INVITE is routed, the live call and its legs, ringing, the talk phase.

routing.py      the pure decision for a new INVITE (flow, extension, spy, outbound, ...)
manager.py      CallManager: runs the decision, keeps the active calls, writes history
live.py         LiveCall: one caller leg and what the flow does with it (CallSession)
leg.py          Leg: what both kinds of leg share (dialog, re-INVITE, session timer, REFER)
leg_states.py   LegState and the one table of moves a leg may make
uas_leg.py      UasLeg: the caller's leg (we answer its INVITE)
uac_leg.py      UacLeg: a leg we call out on (phones, trunks)
sdp_answer.py   the SDP answer to a new INVITE, before its leg exists
dtmf_relay.py   keys sent as SIP INFO
targets.py      RingTarget: one phone to ring
early_media.py  what the caller hears while phones ring
host.py         CallHost: what calls and features need of the runtime
"""
