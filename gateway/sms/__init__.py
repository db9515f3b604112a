"""Two-way SMS: opt-out list, keyword handling (STOP/HELP/START) and the inbound webhook for receipts and
incoming messages. Shared by the SMPP and HTTP SMS channels."""
