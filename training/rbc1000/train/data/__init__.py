"""Training data: the in-memory triplet dataset, loaders, fixed splits and the simulator."""
