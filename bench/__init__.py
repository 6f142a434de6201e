"""Throughput benchmark (issue 6): `python -m bench.run [--n 5000] [--quick]`.

generate.py makes deterministic, realistic report mail; run.py measures the
parse and fetch floors and end-to-end `poll` on the same messages.
"""
