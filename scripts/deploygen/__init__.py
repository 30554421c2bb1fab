"""Generates deploy/k8s/base and the Prometheus files from the code they must agree with.

`python -m scripts.deploygen` writes them; `--check` fails when a committed file is out of date.
"""
