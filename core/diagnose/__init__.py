"""Diagnosis: adversarial attacks, failure-mode scans of labelled sets, bias reports."""
