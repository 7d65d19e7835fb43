"""Training and evaluation of the networks, including loaders for real datasets."""
