"""Benchmarks: eager vs TorchScript vs ONNX Runtime vs torch.compile vs CUDA graphs."""
