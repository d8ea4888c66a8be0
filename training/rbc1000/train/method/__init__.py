"""The RB-C1000 method: run configuration, the stages, uncertainty selection, pseudo-labels."""
