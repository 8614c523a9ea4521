"""``python -m streams.cli`` runs the ``riskmon`` command (the tests and the demo
start processes so)."""

from streams.cli.main import main

main()
