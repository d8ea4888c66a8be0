"""The paper's metrics, the stage table and plots of a run, dataset galleries."""
