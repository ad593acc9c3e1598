"""`voicemail` — leave a message in a mailbox (mode ``leave``), or listen (``listen``).

Leaving: the greeting, the beep, the recording and keeping the message are the session's
(`session.VoicemailCalls`). A kept message takes ``recorded`` and counts as "voicemail
left" for `email` elements with ``when: unanswered``; nothing kept (too short, silence)
takes ``no_message``. ``{mailbox}`` is set for later templates either way.

Listening is the session's mailbox menu (`session.VoicemailListening`: PIN, counts, keys).
A session without voicemail plays the greeting and takes ``no_message`` / ``done``; the
trace says voicemail is not available.
"""

from __future__ import annotations

from flowpbx.flow.context import FlowContext
from flowpbx.flow.model import VoicemailNode
from flowpbx.flow.session import VoicemailCalls, VoicemailListening


async def run(node: VoicemailNode, ctx: FlowContext) -> str:
    params = node.params
    session = ctx.session
    ctx.facts["mailbox"] = params.mailbox
    ctx.variables["mailbox"] = params.mailbox
    if params.mode == "leave" and isinstance(session, VoicemailCalls):
        ctx.waited = True
        result = await session.leave_voicemail(params)
        if result.duration_s:
            ctx.facts["duration_s"] = round(result.duration_s, 1)
        if result.reason:
            ctx.facts["detail"] = result.reason
        if result.recorded:
            ctx.voicemail_left = True
            if result.message_id is not None:
                ctx.facts["message_id"] = result.message_id
            return "recorded"
        return "no_message"
    if params.mode == "listen" and isinstance(session, VoicemailListening):
        ctx.waited = True
        ctx.facts["ended"] = await session.listen_voicemail(params)
        return "done"
    ctx.not_available("Voicemail" if params.mode == "leave" else "Listening to voicemail")
    await session.answer()
    await ctx.play(params.greeting)
    return "no_message" if params.mode == "leave" else "done"
