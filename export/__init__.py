"""TorchScript and ONNX exporters, the manifest that describes what they wrote, and parity."""
