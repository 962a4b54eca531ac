"""The ONNX opset each ONNX path writes: one place, read by the adapters, the registry and the
results file's environment (which records it beside the package versions)."""

ONNX_GRAPH = 17  # adapters/onnx_graph.py: onnxruntime and onnx-reference
# ... for bfloat16, which ONNX's RNN, LSTM and GRU take only from opset 22 (onnx-reference runs it;
# ONNX Runtime's CPU kernels have none: a Limit of onnxruntime)
ONNX_GRAPH_BFLOAT16 = 22
TORCH_EXPORT = 18  # torch.onnx.export: torch-onnx and torch-onnx-legacy
TF2ONNX = 17  # tf2onnx.convert.from_keras: keras-onnx
