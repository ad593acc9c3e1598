"""SIP transaction state machines as data (RFC 3261 §17, RFC 6026).

Everything that decides how a transaction moves lives here: the four machines (INVITE and
non-INVITE, client and server) are tables mapping ``(state, input)`` to a `Transition` — the
next state, the actions to run and the timers to (re)arm. The transaction layer
(:mod:`flowpbx.sip.transaction`) only executes what these tables say, so a diagram can be
generated from them (:func:`to_dot`).

An input with no entry for the current state is ignored: a late timer of a state already left,
a retransmitted response the machine has no use for. Timers that have no entry in the state a
transaction enters are cancelled on entry.

Timers (RFC 3261 §17, Table 4; RFC 6026 §8.4 for L and M):

====  ==========================  =================================  ===================
name  machine / state             default duration                   on fire
====  ==========================  =================================  ===================
A     INVITE client, Calling      T1, doubling                       retransmit INVITE
B     INVITE client, Calling      64*T1                              timeout (408 to TU)
D     INVITE client, Completed    32 s (0 on reliable transports)    terminate
M     INVITE client, Accepted     64*T1                              terminate
E     non-INVITE client           T1, doubling up to T2; T2 later    retransmit request
F     non-INVITE client           64*T1                              timeout (408 to TU)
K     non-INVITE client, Compl.   T4 (0 on reliable)                 terminate
G     INVITE server, Completed    T1, doubling up to T2              retransmit response
H     INVITE server, Completed    64*T1                              timeout, terminate
I     INVITE server, Confirmed    T4 (0 on reliable)                 terminate
J     non-INVITE server, Compl.   64*T1 (0 on reliable)              terminate
L     INVITE server, Accepted     64*T1                              terminate (AckTimeout
                                                                     if no ACK came)
2XX   INVITE server, Accepted     T1, doubling up to T2              retransmit 2xx
                                                                     (RFC 3261 §13.3.1.4)
100   INVITE server, Proceeding   200 ms (configurable, 0 = now)     send 100 Trying
                                                                     (RFC 3261 §17.2.1)
CXL   INVITE client, Proceeding   64*T1 after a CANCEL was sent      give up (RFC 3261 §9.1)
GRD   server, no final response   64*T1 after the request arrived    non-INVITE: terminate
                                                                     INVITE: answer 500
====  ==========================  =================================  ===================

Timer GRD (guard) is flowpbx's own: a server transaction whose request the TU never
answered (a bug, or an exception while handling it) would otherwise stay in memory with
its datagram forever. A non-INVITE one is dropped (its client gave up at Timer F, 64*T1);
an INVITE one is answered 500 and completes normally — unless the TU has sent a
provisional response of its own, which stops the guard: from then on the TU is in charge
of the call (ringing may last minutes). The layer also skips the guard of a transaction
the TU has taken (``user_data`` set).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


class Kind(IntEnum):
    """Which of the four transaction machines."""

    INVITE_CLIENT = 1  # RFC 3261 §17.1.1
    NON_INVITE_CLIENT = 2  # RFC 3261 §17.1.2
    INVITE_SERVER = 3  # RFC 3261 §17.2.1
    NON_INVITE_SERVER = 4  # RFC 3261 §17.2.2


class State(IntEnum):
    """Transaction states (the union over the four machines)."""

    INIT = 0  # not started yet; only the START input is valid
    CALLING = 1
    TRYING = 2
    PROCEEDING = 3
    COMPLETED = 4
    CONFIRMED = 5
    ACCEPTED = 6  # RFC 6026 §7.1 / §7.2
    TERMINATED = 7


class Input(IntEnum):
    """What can happen to a transaction: messages, TU calls and timers."""

    START = 0  # the transaction is created (request sent or received)
    RECV_1XX = 1  # client: provisional response received
    RECV_2XX = 2  # client: 2xx received
    RECV_FINAL = 3  # client: 300-699 received
    RECV_REQUEST = 4  # server: retransmission of the request received
    RECV_ACK = 5  # INVITE server: ACK received (non-2xx ACK, or 2xx ACK matched by dialog)
    SEND_1XX = 6  # server: TU sends a provisional response
    SEND_2XX = 7  # server: TU sends a 2xx
    SEND_FINAL = 8  # server: TU sends 300-699
    TIMER_A = 10
    TIMER_B = 11
    TIMER_D = 12
    TIMER_E = 13
    TIMER_F = 14
    TIMER_K = 15
    TIMER_G = 16
    TIMER_H = 17
    TIMER_I = 18
    TIMER_J = 19
    TIMER_L = 20
    TIMER_M = 21
    TIMER_2XX = 22  # 2xx retransmission by the INVITE server (RFC 3261 §13.3.1.4)
    TIMER_100 = 23  # automatic 100 Trying (RFC 3261 §17.2.1)
    TIMER_CXL = 24  # CANCEL sent, no final response within 64*T1 (RFC 3261 §9.1)
    TIMER_GUARD = 25  # server: no final response from the TU within 64*T1 (see above)


TIMERS: frozenset[Input] = frozenset(i for i in Input if i >= Input.TIMER_A)

# Retransmission timers: never armed on reliable transports (RFC 3261 §17.1.1.2, §17.2.1).
RETRANSMIT_TIMERS: frozenset[Input] = frozenset(
    {Input.TIMER_A, Input.TIMER_E, Input.TIMER_G, Input.TIMER_2XX}
)


class Action(IntEnum):
    """Work the layer does for a transition, in table order."""

    SEND_REQUEST = 1  # client: transmit the request (first time)
    RESEND_REQUEST = 2  # client: retransmit the request (counted)
    SEND_RESPONSE = 3  # server: transmit the TU's response, remember it as last response
    RESEND_RESPONSE = 4  # server: retransmit the last response, if any (counted)
    SEND_ACK = 5  # INVITE client: send the ACK for a non-2xx final (RFC 3261 §17.1.1.3)
    RESPONSE_TO_TU = 6  # client: ResponseReceived
    ACK_TO_TU = 7  # INVITE server, Accepted: AckReceived for the first ACK only
    REPORT_TIMEOUT = 8  # TransactionTimeout
    REPORT_ACK_TIMEOUT = 9  # AckTimeout, if no ACK arrived for the 2xx
    SEND_TRYING = 10  # 100 Trying, if the TU has sent nothing yet
    INTERVAL_T1 = 11  # retransmit interval := T1
    INTERVAL_DOUBLE = 12  # retransmit interval *= 2 (timer A)
    INTERVAL_DOUBLE_CAP = 13  # retransmit interval := min(2 * interval, T2)
    INTERVAL_T2 = 14  # retransmit interval := T2 (timer E in Proceeding)
    STOP_GUARD = 15  # INVITE server: the TU sent a 1xx of its own, it owns the transaction
    SEND_SERVER_ERROR = 16  # server: answer 500 for the TU that never answered (Timer GRD)


@dataclass(frozen=True, slots=True, kw_only=True)
class Transition:
    """One row of a machine: where to go, what to do, which timers to (re)arm."""

    to: State
    do: tuple[Action, ...] = ()
    arm: tuple[Input, ...] = ()


Table = dict[tuple[State, Input], Transition]

_S = State
_I = Input
_A = Action
_T = Transition

# RFC 3261 §17.1.1.2 (Figure 5) as amended by RFC 6026 §7.2 (Accepted state, timer M).
INVITE_CLIENT: Table = {
    (_S.INIT, _I.START): _T(
        to=_S.CALLING, do=(_A.SEND_REQUEST, _A.INTERVAL_T1), arm=(_I.TIMER_A, _I.TIMER_B)
    ),
    (_S.CALLING, _I.TIMER_A): _T(
        to=_S.CALLING, do=(_A.RESEND_REQUEST, _A.INTERVAL_DOUBLE), arm=(_I.TIMER_A,)
    ),
    (_S.CALLING, _I.TIMER_B): _T(to=_S.TERMINATED, do=(_A.REPORT_TIMEOUT,)),
    (_S.CALLING, _I.RECV_1XX): _T(to=_S.PROCEEDING, do=(_A.RESPONSE_TO_TU,)),
    (_S.CALLING, _I.RECV_2XX): _T(to=_S.ACCEPTED, do=(_A.RESPONSE_TO_TU,), arm=(_I.TIMER_M,)),
    (_S.CALLING, _I.RECV_FINAL): _T(
        to=_S.COMPLETED, do=(_A.RESPONSE_TO_TU, _A.SEND_ACK), arm=(_I.TIMER_D,)
    ),
    (_S.CALLING, _I.TIMER_CXL): _T(to=_S.TERMINATED, do=(_A.REPORT_TIMEOUT,)),
    (_S.PROCEEDING, _I.RECV_1XX): _T(to=_S.PROCEEDING, do=(_A.RESPONSE_TO_TU,)),
    (_S.PROCEEDING, _I.RECV_2XX): _T(to=_S.ACCEPTED, do=(_A.RESPONSE_TO_TU,), arm=(_I.TIMER_M,)),
    (_S.PROCEEDING, _I.RECV_FINAL): _T(
        to=_S.COMPLETED, do=(_A.RESPONSE_TO_TU, _A.SEND_ACK), arm=(_I.TIMER_D,)
    ),
    (_S.PROCEEDING, _I.TIMER_CXL): _T(to=_S.TERMINATED, do=(_A.REPORT_TIMEOUT,)),
    # Completed: a retransmitted final response is answered with the same ACK, not passed up.
    (_S.COMPLETED, _I.RECV_FINAL): _T(to=_S.COMPLETED, do=(_A.SEND_ACK,)),
    (_S.COMPLETED, _I.TIMER_D): _T(to=_S.TERMINATED),
    # RFC 6026 §8.4: every 2xx retransmission goes to the TU, which re-sends its ACK.
    (_S.ACCEPTED, _I.RECV_2XX): _T(to=_S.ACCEPTED, do=(_A.RESPONSE_TO_TU,)),
    (_S.ACCEPTED, _I.TIMER_M): _T(to=_S.TERMINATED),
}

# RFC 3261 §17.1.2.2 (Figure 6).
NON_INVITE_CLIENT: Table = {
    (_S.INIT, _I.START): _T(
        to=_S.TRYING, do=(_A.SEND_REQUEST, _A.INTERVAL_T1), arm=(_I.TIMER_E, _I.TIMER_F)
    ),
    (_S.TRYING, _I.TIMER_E): _T(
        to=_S.TRYING, do=(_A.RESEND_REQUEST, _A.INTERVAL_DOUBLE_CAP), arm=(_I.TIMER_E,)
    ),
    (_S.TRYING, _I.TIMER_F): _T(to=_S.TERMINATED, do=(_A.REPORT_TIMEOUT,)),
    (_S.TRYING, _I.RECV_1XX): _T(to=_S.PROCEEDING, do=(_A.RESPONSE_TO_TU,)),
    (_S.TRYING, _I.RECV_2XX): _T(to=_S.COMPLETED, do=(_A.RESPONSE_TO_TU,), arm=(_I.TIMER_K,)),
    (_S.TRYING, _I.RECV_FINAL): _T(to=_S.COMPLETED, do=(_A.RESPONSE_TO_TU,), arm=(_I.TIMER_K,)),
    (_S.PROCEEDING, _I.TIMER_E): _T(
        to=_S.PROCEEDING, do=(_A.RESEND_REQUEST, _A.INTERVAL_T2), arm=(_I.TIMER_E,)
    ),
    (_S.PROCEEDING, _I.TIMER_F): _T(to=_S.TERMINATED, do=(_A.REPORT_TIMEOUT,)),
    (_S.PROCEEDING, _I.RECV_1XX): _T(to=_S.PROCEEDING, do=(_A.RESPONSE_TO_TU,)),
    (_S.PROCEEDING, _I.RECV_2XX): _T(to=_S.COMPLETED, do=(_A.RESPONSE_TO_TU,), arm=(_I.TIMER_K,)),
    (_S.PROCEEDING, _I.RECV_FINAL): _T(to=_S.COMPLETED, do=(_A.RESPONSE_TO_TU,), arm=(_I.TIMER_K,)),
    (_S.COMPLETED, _I.TIMER_K): _T(to=_S.TERMINATED),
}

# RFC 3261 §17.2.1 (Figure 7) as amended by RFC 6026 §7.1 (Accepted state, timer L), plus
# the UAS core's 2xx retransmission (RFC 3261 §13.3.1.4), which this layer owns.
INVITE_SERVER: Table = {
    (_S.INIT, _I.START): _T(to=_S.PROCEEDING, arm=(_I.TIMER_100, _I.TIMER_GUARD)),
    (_S.PROCEEDING, _I.TIMER_100): _T(to=_S.PROCEEDING, do=(_A.SEND_TRYING,)),
    (_S.PROCEEDING, _I.RECV_REQUEST): _T(to=_S.PROCEEDING, do=(_A.RESEND_RESPONSE,)),
    (_S.PROCEEDING, _I.SEND_1XX): _T(to=_S.PROCEEDING, do=(_A.SEND_RESPONSE, _A.STOP_GUARD)),
    (_S.PROCEEDING, _I.TIMER_GUARD): _T(
        to=_S.COMPLETED,
        do=(_A.REPORT_TIMEOUT, _A.SEND_SERVER_ERROR, _A.INTERVAL_T1),
        arm=(_I.TIMER_G, _I.TIMER_H),
    ),
    (_S.PROCEEDING, _I.SEND_2XX): _T(
        to=_S.ACCEPTED,
        do=(_A.SEND_RESPONSE, _A.INTERVAL_T1),
        arm=(_I.TIMER_2XX, _I.TIMER_L),
    ),
    (_S.PROCEEDING, _I.SEND_FINAL): _T(
        to=_S.COMPLETED,
        do=(_A.SEND_RESPONSE, _A.INTERVAL_T1),
        arm=(_I.TIMER_G, _I.TIMER_H),
    ),
    (_S.COMPLETED, _I.RECV_REQUEST): _T(to=_S.COMPLETED, do=(_A.RESEND_RESPONSE,)),
    (_S.COMPLETED, _I.TIMER_G): _T(
        to=_S.COMPLETED, do=(_A.RESEND_RESPONSE, _A.INTERVAL_DOUBLE_CAP), arm=(_I.TIMER_G,)
    ),
    (_S.COMPLETED, _I.TIMER_H): _T(to=_S.TERMINATED, do=(_A.REPORT_TIMEOUT,)),
    (_S.COMPLETED, _I.RECV_ACK): _T(to=_S.CONFIRMED, arm=(_I.TIMER_I,)),
    (_S.CONFIRMED, _I.TIMER_I): _T(to=_S.TERMINATED),
    # RFC 6026 §7.1: retransmitted INVITEs are absorbed; further 2xx from the TU are sent.
    (_S.ACCEPTED, _I.RECV_REQUEST): _T(to=_S.ACCEPTED),
    (_S.ACCEPTED, _I.SEND_2XX): _T(to=_S.ACCEPTED, do=(_A.SEND_RESPONSE,)),
    (_S.ACCEPTED, _I.RECV_ACK): _T(to=_S.ACCEPTED, do=(_A.ACK_TO_TU,)),
    (_S.ACCEPTED, _I.TIMER_2XX): _T(
        to=_S.ACCEPTED, do=(_A.RESEND_RESPONSE, _A.INTERVAL_DOUBLE_CAP), arm=(_I.TIMER_2XX,)
    ),
    (_S.ACCEPTED, _I.TIMER_L): _T(to=_S.TERMINATED, do=(_A.REPORT_ACK_TIMEOUT,)),
}

# RFC 3261 §17.2.2 (Figure 8).
NON_INVITE_SERVER: Table = {
    (_S.INIT, _I.START): _T(to=_S.TRYING, arm=(_I.TIMER_GUARD,)),
    (_S.TRYING, _I.RECV_REQUEST): _T(to=_S.TRYING),  # absorbed: nothing to resend yet
    (_S.TRYING, _I.TIMER_GUARD): _T(to=_S.TERMINATED, do=(_A.REPORT_TIMEOUT,)),
    (_S.PROCEEDING, _I.TIMER_GUARD): _T(to=_S.TERMINATED, do=(_A.REPORT_TIMEOUT,)),
    (_S.TRYING, _I.SEND_1XX): _T(to=_S.PROCEEDING, do=(_A.SEND_RESPONSE,)),
    (_S.TRYING, _I.SEND_2XX): _T(to=_S.COMPLETED, do=(_A.SEND_RESPONSE,), arm=(_I.TIMER_J,)),
    (_S.TRYING, _I.SEND_FINAL): _T(to=_S.COMPLETED, do=(_A.SEND_RESPONSE,), arm=(_I.TIMER_J,)),
    (_S.PROCEEDING, _I.RECV_REQUEST): _T(to=_S.PROCEEDING, do=(_A.RESEND_RESPONSE,)),
    (_S.PROCEEDING, _I.SEND_1XX): _T(to=_S.PROCEEDING, do=(_A.SEND_RESPONSE,)),
    (_S.PROCEEDING, _I.SEND_2XX): _T(to=_S.COMPLETED, do=(_A.SEND_RESPONSE,), arm=(_I.TIMER_J,)),
    (_S.PROCEEDING, _I.SEND_FINAL): _T(to=_S.COMPLETED, do=(_A.SEND_RESPONSE,), arm=(_I.TIMER_J,)),
    (_S.COMPLETED, _I.RECV_REQUEST): _T(to=_S.COMPLETED, do=(_A.RESEND_RESPONSE,)),
    (_S.COMPLETED, _I.TIMER_J): _T(to=_S.TERMINATED),
}

TABLES: dict[Kind, Table] = {
    Kind.INVITE_CLIENT: INVITE_CLIENT,
    Kind.NON_INVITE_CLIENT: NON_INVITE_CLIENT,
    Kind.INVITE_SERVER: INVITE_SERVER,
    Kind.NON_INVITE_SERVER: NON_INVITE_SERVER,
}


def _timers_valid_in(table: Table) -> dict[State, frozenset[Input]]:
    out: dict[State, set[Input]] = {s: set() for s in State}
    for state, inp in table:
        if inp in TIMERS:
            out[state].add(inp)
    return {s: frozenset(v) for s, v in out.items()}


# Timers that still mean something in each state; others are cancelled on entering it.
VALID_TIMERS: dict[Kind, dict[State, frozenset[Input]]] = {
    kind: _timers_valid_in(table) for kind, table in TABLES.items()
}


def to_dot(kind: Kind) -> str:
    """Render one machine as a Graphviz digraph (for documentation)."""
    lines = [f'digraph "{kind.name}" {{', "  rankdir=LR;"]
    for (state, inp), tr in TABLES[kind].items():
        label = inp.name
        if tr.do:
            label += " / " + ", ".join(a.name for a in tr.do)
        if tr.arm:
            label += " [" + ", ".join(t.name for t in tr.arm) + "]"
        lines.append(f'  {state.name} -> {tr.to.name} [label="{label}"];')
    lines.append("}")
    return "\n".join(lines)
