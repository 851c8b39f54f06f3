"""Networks, model files and their records, runtimes (Keras, ONNX, TFLite), test-time views, export."""
