"""Runners: local (LocalDagRunner, one run per span, backfills) and Kubeflow (V2 spec compiler)."""
