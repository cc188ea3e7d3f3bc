"""From checkpoint to production: plain weights, ONNX, inference backends, the HTTP service."""
