"""Independent peers (not our sandboxes) that the wire-protocol tests run against, started on loopback ports."""
