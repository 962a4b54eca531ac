"""The ONNX opset each ONNX path writes: one place, read by the adapters, the registry and the
results file's environment (which records it beside the package versions)."""

ONNX_GRAPH = 17  # adapters/onnx_graph.py: onnxruntime and onnx-reference
TORCH_EXPORT = 18  # torch.onnx.export: torch-onnx and torch-onnx-legacy
TF2ONNX = 17  # tf2onnx.convert.from_keras: keras-onnx
