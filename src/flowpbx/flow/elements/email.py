"""`email` — a templated email, sent now or when the call ends unanswered.

``when=unanswered`` queues the message on the run; the interpreter sends it after the call
if no person answered and no voicemail was left. Subject values are escaped so they can
never start a new header; the body is plain text.
"""

from __future__ import annotations

from flowpbx.flow.context import EmailMessage, FlowContext
from flowpbx.flow.model import EmailNode
from flowpbx.flow.templates import header_safe, render


def build_message(node: EmailNode, ctx: FlowContext) -> EmailMessage:
    params = node.params
    values = ctx.template_values()
    return EmailMessage(
        to=tuple(params.to),
        # the author's own text may not break the header either
        subject=header_safe(render(params.subject, values, "email_header")),
        body=render(params.body, values, "plain"),
    )


async def run(node: EmailNode, ctx: FlowContext) -> str:
    send = ctx.services.send_email
    message = build_message(node, ctx)
    ctx.facts["to"] = list(message.to)
    ctx.facts["subject"] = message.subject
    if send is None:
        ctx.not_available("Email")
        return "next"
    if node.params.when == "unanswered":
        ctx.pending_emails.append(message)
        ctx.facts["when"] = "unanswered: sent after the call if nobody answered"
        return "next"
    try:
        await send(message)
    except Exception as exc:
        ctx.facts["error"] = f"{type(exc).__name__}: {exc}"[:200]
    else:
        ctx.facts["sent"] = True
    return "next"
