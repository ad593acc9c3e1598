"""Features of live calls, each taking a narrow port instead of the runtime or the call:
queues, transfer (REFER and *2), spy, voicemail, MWI, recording, spoken numbers, trunk
registrations and number handling."""
