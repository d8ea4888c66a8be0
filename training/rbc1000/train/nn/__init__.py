"""Networks, the training loop of one stage, and ONNX export."""
