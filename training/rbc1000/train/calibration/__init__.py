"""Calibration, per-survey policy and the quality gate that every exported model carries."""
