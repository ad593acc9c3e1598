"""Call flows: the document model, validation, elements, interpreter and simulator.

Pure code: no SIP, no database, no sockets. `pbx/` runs flows on live calls through the
`session.CallSession` protocol; `simulator.py` runs the same interpreter in virtual time.

    model.py         flow document, element settings/outputs, load_flow, JSON schema
    io.py            load_document / dump_document: YAML and JSON in and out
    validate.py      validate_flow → errors and warnings with node + field
    revisions.py     diff_flows: what changed between two revisions (for the editor)
    interpreter.py   run_flow → FlowRun (trace, outcome)
    elements/        one module per element type
    context.py       FlowContext (what an element sees), FlowServices (outside world)
    simulator.py     SimulatedSession, simulate / simulate_call (trace + what was heard)
    templates.py     {caller}… placeholders with escaping
    schedule.py      office hours
    dialstring.py    what an extension dialled
    queue_policy.py  queue strategies
"""
