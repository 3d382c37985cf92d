"""Training: the config and loop (`train`), resumable state (`trainstate`) and the bundled model
set (`bundle`)."""
