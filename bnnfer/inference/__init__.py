"""Predictions of a split: batched MC prediction and devices (`mc`), the shared resumable
computation (`computations`) and where a split's predictions come from (`store`)."""
