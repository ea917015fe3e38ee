#!/usr/bin/env bash
echo "coverage unavailable offline (remote_coverage_tools is a stub); use: .venv/bin/python -m pytest --cov" >&2
exit 1
