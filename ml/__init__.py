"""The shared models of every scenario: plain Python, numpy and TensorFlow; never imports Django."""
