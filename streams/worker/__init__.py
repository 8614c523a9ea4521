"""The Faust worker: the only part of riskmon that imports Faust.

The agents read records, call the pure stages (:mod:`streams.worker.scoring_stage`,
:mod:`streams.worker.alert_stage`) and write what they return. Imports persistence and below.
"""
