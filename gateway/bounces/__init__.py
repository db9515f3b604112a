"""Late bounces and complaints: VERP return paths, the record of sent mail, report parsing and the inbound SMTP
listener (docs/bounces.md)."""
