"""FaceGate trainer: fine-tunes the shipped SFace embedder with PyTorch (never imports Qt).

Sub-packages: ``trainer.model`` (PyTorch port of SFace, ONNX import/export) and ``trainer.losses``
(classification heads and metric-learning losses, with a name registry).
"""
