"""Scoring: churn propensity, reasons, customer value and classes, uplift."""
