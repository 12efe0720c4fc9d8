"""Quality and output: checkpoints and safe loading, sampling, the domain classifier, quality, GIFs, ONNX."""
