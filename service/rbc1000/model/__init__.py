"""The model: the one preprocessing function, the ONNX contract, scoring and decisions."""
