"""The periodic retraining job: human labels in, a gated challenger out (`rbc-train retrain`)."""
