"""Model weights that ship with streamcolor (ONNX files trained by this project)."""
