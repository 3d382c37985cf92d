"""Scoring predictions: metrics and their resampled forms, human baselines, annotators,
calibration and class priors, the evaluation of the bundle, external rows, the rate sweep, and
what the dashboard shows (`views`)."""
