"""SIP dialogs (RFC 3261 §12): the state two user agents share between INVITE and BYE.

A `Dialog` is created by the UAS from the request (`Dialog.as_uas`) or by the UAC from a
response carrying a To tag (`Dialog.as_uac`), builds in-dialog requests (`create_request`,
`create_ack`) and checks incoming ones (`receive_request`). Pure data, no I/O: in-dialog
requests come out without a Via; the runtime prepends its own with a fresh branch and hands the
request to the transaction layer.

Dialog states (RFC 3261 §12.1: early after a 1xx with a To tag, confirmed after a 2xx) live in
`DIALOG_TRANSITIONS` as data.

Errors: `LocalSipError` when a message lacks what a dialog needs (our caller's fault: the
transaction layer and parser already rejected broken peers' messages).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

from flowpbx.sip.errors import LocalSipError
from flowpbx.sip.headers import Headers, NameAddr
from flowpbx.sip.message import Request, Response
from flowpbx.sip.uri import SipUri

__all__ = [
    "DIALOG_TRANSITIONS",
    "Dialog",
    "DialogId",
    "DialogState",
    "make_ack_for_2xx",
    "request_dialog_id",
    "response_dialog_id",
]

DialogId = tuple[str, str, str]  # (Call-ID, local tag, remote tag), RFC 3261 §12

# Methods whose requests (and 2xx responses) replace the remote target (RFC 3261 §12.2,
# RFC 3311 §5.1 for UPDATE, RFC 6665 §4.4.1 for SUBSCRIBE/NOTIFY).
TARGET_REFRESH = frozenset({"INVITE", "UPDATE", "SUBSCRIBE", "NOTIFY"})


class DialogState(IntEnum):
    EARLY = 1  # RFC 3261 §12.1: created by a 1xx with a To tag
    CONFIRMED = 2  # created or confirmed by a 2xx
    TERMINATED = 3  # BYE, or a non-2xx final ended the early dialog


class DialogInput(IntEnum):
    RESPONSE_1XX = 1
    RESPONSE_2XX = 2
    RESPONSE_FAILURE = 3  # 300-699 to the dialog-creating INVITE (RFC 3261 §12.3)
    BYE = 4  # BYE sent or received (RFC 3261 §15)


DIALOG_TRANSITIONS: dict[tuple[DialogState, DialogInput], DialogState] = {
    (DialogState.EARLY, DialogInput.RESPONSE_1XX): DialogState.EARLY,
    (DialogState.EARLY, DialogInput.RESPONSE_2XX): DialogState.CONFIRMED,
    (DialogState.EARLY, DialogInput.RESPONSE_FAILURE): DialogState.TERMINATED,
    (DialogState.EARLY, DialogInput.BYE): DialogState.TERMINATED,
    (DialogState.CONFIRMED, DialogInput.RESPONSE_2XX): DialogState.CONFIRMED,
    (DialogState.CONFIRMED, DialogInput.BYE): DialogState.TERMINATED,
}


def _input_for(status: int) -> DialogInput:
    if status < 200:
        return DialogInput.RESPONSE_1XX
    if status < 300:
        return DialogInput.RESPONSE_2XX
    return DialogInput.RESPONSE_FAILURE


def _first_contact(message: Request | Response) -> SipUri | None:
    contacts = message.contacts
    return contacts[0].uri if contacts else None


def _tag_required(addr: NameAddr, what: str) -> str:
    tag = addr.tag
    if tag is None:
        raise LocalSipError(f"{what} has no tag: no dialog")
    return tag


def _without_tag(addr: NameAddr) -> NameAddr:
    return addr.without_params("tag")


@dataclass(slots=True, kw_only=True)
class Dialog:
    """The dialog state of RFC 3261 §12 (mutable: sequence numbers and target move)."""

    call_id: str
    local_tag: str
    remote_tag: str
    local_uri: NameAddr  # without tag
    remote_uri: NameAddr  # without tag
    remote_target: SipUri
    route_set: list[str] = field(default_factory=list)
    local_seq: int = 0
    remote_seq: int | None = None
    secure: bool = False
    state: DialogState = DialogState.CONFIRMED

    # -- creation ----------------------------------------------------------------------------

    @classmethod
    def as_uas(cls, request: Request, *, local_tag: str) -> Dialog:
        """The UAS side, from a dialog-creating request (RFC 3261 §12.1.1).

        Route set = Record-Route in order; remote target = the request's Contact; remote
        sequence = its CSeq; local sequence starts empty (0, the first request uses 1).
        """
        remote_tag = _tag_required(request.from_, "From")
        target = _first_contact(request)
        if target is None:
            raise LocalSipError("dialog-creating request without Contact")
        return cls(
            call_id=request.call_id,
            local_tag=local_tag,
            remote_tag=remote_tag,
            local_uri=_without_tag(request.to),
            remote_uri=_without_tag(request.from_),
            remote_target=target,
            route_set=list(request.headers.get_all("Record-Route")),
            local_seq=0,
            remote_seq=request.cseq.seq,
            secure=request.ruri.scheme == "sips",
            state=DialogState.CONFIRMED,
        )

    @classmethod
    def as_uac(cls, request: Request, response: Response) -> Dialog:
        """The UAC side, from our request and a 1xx/2xx with a To tag (RFC 3261 §12.1.2).

        Route set = Record-Route of the response reversed; remote target = its Contact;
        local sequence = the request's CSeq; remote sequence empty. A 1xx makes the dialog
        early, a 2xx confirmed.
        """
        remote_tag = _tag_required(response.to, "To")
        local_tag = _tag_required(request.from_, "From")
        target = _first_contact(response)
        if target is None:
            # A 2xx to INVITE must have a Contact (RFC 3261 §12.1.2); a 1xx may lack one.
            target = request.ruri
        return cls(
            call_id=request.call_id,
            local_tag=local_tag,
            remote_tag=remote_tag,
            local_uri=_without_tag(request.from_),
            remote_uri=_without_tag(response.to),
            remote_target=target,
            route_set=list(reversed(response.headers.get_all("Record-Route"))),
            local_seq=request.cseq.seq,
            remote_seq=None,
            secure=request.ruri.scheme == "sips",
            state=DialogState.EARLY if response.status < 200 else DialogState.CONFIRMED,
        )

    @property
    def id(self) -> DialogId:
        return (self.call_id, self.local_tag, self.remote_tag)

    # -- building requests ---------------------------------------------------------------------

    def create_request(
        self,
        method: str,
        *,
        body: bytes = b"",
        content_type: str | None = None,
        headers: list[tuple[str, str]] | tuple[tuple[str, str], ...] = (),
        contact: str | None = None,
        cseq: int | None = None,
    ) -> Request:
        """An in-dialog request (RFC 3261 §12.2.1.1), without Via.

        The CSeq number is incremented, except for ACK (which reuses the INVITE's number,
        given in ``cseq``) and CANCEL. Loose routing (``;lr``) puts the remote target in the
        Request-URI and the route set in Route; a strict first route becomes the Request-URI
        and the remote target goes last in Route.
        """
        if cseq is None:
            if method == "ACK" or method == "CANCEL":
                cseq = self.local_seq
            else:
                self.local_seq += 1
                cseq = self.local_seq
        h = Headers()
        target = str(self.remote_target)
        routes = self.route_set
        if routes and not _is_loose(routes[0]):
            ruri = _route_uri(routes[0])
            routes = [*routes[1:], f"<{target}>"]
        else:
            ruri = target
        for route in routes:
            h.add("Route", route)
        h.add("Max-Forwards", "70")
        h.add("From", str(self.local_uri.with_tag(self.local_tag)))
        h.add("To", str(self.remote_uri.with_tag(self.remote_tag)))
        h.add("Call-ID", self.call_id)
        h.add("CSeq", f"{cseq} {method}")
        if contact is not None:
            h.add("Contact", contact)
        for name, value in headers:
            h.add(name, value)
        if content_type is not None:
            h.add("Content-Type", content_type)
        return Request(method=method, uri=ruri, headers=h, body=body)

    def create_ack(
        self, invite_cseq: int, *, body: bytes = b"", content_type: str | None = None
    ) -> Request:
        """The ACK for a 2xx to our (re-)INVITE (RFC 3261 §13.2.2.4), same CSeq number."""
        return self.create_request("ACK", body=body, content_type=content_type, cseq=invite_cseq)

    # -- receiving ---------------------------------------------------------------------------

    def receive_request(self, request: Request) -> int | None:
        """Check an in-dialog request (RFC 3261 §12.2.2); a status to answer, or None if fine.

        A CSeq lower than the last one seen is answered 500; ACK and CANCEL carry an older
        number on purpose and are not checked. Target refresh requests with a Contact replace
        the remote target. A BYE ends the dialog.
        """
        method = request.method
        if method != "ACK" and method != "CANCEL":
            seq = request.cseq.seq
            if self.remote_seq is not None and seq < self.remote_seq:
                return 500
            self.remote_seq = seq
        if method in TARGET_REFRESH:
            target = _first_contact(request)
            if target is not None:
                self.remote_target = target
        elif method == "BYE":
            self._apply(DialogInput.BYE)
        return None

    def receive_response(self, request: Request, response: Response) -> None:
        """Update from a response to a request we sent in this dialog.

        2xx to a target refresh replaces the remote target (RFC 3261 §12.2.1.2); for the
        dialog-creating INVITE the state moves early -> confirmed (and the route set is taken
        from the 2xx, RFC 3261 §12.1.2) or terminated on a failure.
        """
        status = response.status
        method = request.method
        if method == "INVITE" and self.state is DialogState.EARLY:
            if 200 <= status < 300:
                self.route_set = list(reversed(response.headers.get_all("Record-Route")))
            self._apply(_input_for(status))
        if 200 <= status < 300 and method in TARGET_REFRESH:
            target = _first_contact(response)
            if target is not None:
                self.remote_target = target
        if method == "BYE" and status >= 200:
            self._apply(DialogInput.BYE)

    def terminate(self) -> None:
        self.state = DialogState.TERMINATED

    def _apply(self, inp: DialogInput) -> None:
        nxt = DIALOG_TRANSITIONS.get((self.state, inp))
        if nxt is not None:
            self.state = nxt


def _route_uri(route: str) -> str:
    route = route.strip()
    if route.startswith("<"):
        end = route.find(">")
        return route[1:end] if end > 0 else route[1:]
    return route.split(";", 1)[0]


def _is_loose(route: str) -> bool:
    # RFC 3261 §16.12.1.1: ";lr" inside the URI marks a loose router.
    uri = _route_uri(route)
    return ";lr" in uri.lower()


def request_dialog_id(request: Request) -> DialogId | None:
    """The dialog an incoming request belongs to, from our side (UAS view), if any."""
    remote = request.from_.tag
    local = request.to.tag
    if local is None or remote is None:
        return None
    return (request.call_id, local, remote)


def response_dialog_id(response: Response) -> DialogId | None:
    """The dialog a response to our request belongs to (UAC view), if it has both tags."""
    local = response.from_.tag
    remote = response.to.tag
    if local is None or remote is None:
        return None
    return (response.call_id, local, remote)


def make_ack_for_2xx(
    invite: Request,
    response: Response,
    dialog: Dialog | None = None,
    *,
    body: bytes = b"",
    content_type: str | None = None,
) -> Request:
    """The ACK for a 2xx to ``invite`` (RFC 3261 §13.2.2.4), built by the TU.

    It is an in-dialog request with the INVITE's CSeq number and the same credentials
    (Authorization / Proxy-Authorization copied). No Via: the runtime adds one with a new
    branch and sends it with ``TransactionLayer.send_stateless``.
    """
    if dialog is None:
        dialog = Dialog.as_uac(invite, response)
    ack = dialog.create_ack(invite.cseq.seq, body=body, content_type=content_type)
    for name in ("Authorization", "Proxy-Authorization"):
        for value in invite.headers.get_all(name):
            ack.headers.add(name, value)
    return ack
