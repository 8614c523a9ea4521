"""Replay: recompute score history from stored events (a new series), and compare what alerting
would have done on two series. Imports persistence and below."""
