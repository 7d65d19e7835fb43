"""Feature network, person detection and inference engines."""
