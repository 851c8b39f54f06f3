"""Predict at scale: the run loop shared by the local and Ray engines, the index, the output folder, manifests."""
