"""Research code of the spike detector: the candidate decision rules compared, the synthetic
evaluation sets and their harness. Used by ``bench/detect_bench.py`` and the tests, never by the
worker (the production detector is :mod:`indices.detect`)."""
