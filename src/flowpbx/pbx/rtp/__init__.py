"""RTP media of live calls: port pool, per-leg endpoint and RTCP, the one media clock,
players, the audio library and mixing bridges (one concept per module).

    ports.py     RtpPortPool: even ports at random, shared source-learning settings
    endpoint.py  RtpEndpoint: one leg's socket, strict source learning, relay, DTMF
    rtcp.py      RtcpChannel: reports on the port above (RFC 3550 §6)
    clock.py     MediaClock: the 20 ms schedule every player and bridge ticks on, RTP timeouts
    player.py    Player and the frame encoders (prompts, ringback)
    library.py   AudioLibrary: audio names -> samples -> encoded frames
    bridge.py    Bridge, CallBridge, BridgeRegistry: mixing bridges on the clock

Imports point one way: ports <- rtcp <- endpoint <- clock/player <- library/bridge.
"""
