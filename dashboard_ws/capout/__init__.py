"""Public warnings out: operators review, edit and approve CAP 1.2 messages drafted from
sustained alerts; approval publishes them to ``riskmon.cap-out`` (docs/agencies.md)."""
