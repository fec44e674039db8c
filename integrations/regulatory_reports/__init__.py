"""Streaming writers for regulatory report files (CSV, JSON, XML). See writers.py."""
