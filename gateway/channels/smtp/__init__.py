"""Email over SMTP: a sans-I/O reply parser and classifier, MIME assembly from a precompiled skeleton, a pipelined
connection protocol, and a pooled channel."""
