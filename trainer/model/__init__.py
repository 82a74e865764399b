"""PyTorch side of the SFace embedder.

Modules: ``onnx_weights`` (read the shipped int8 ONNX file: prune its stray inputs, dequantise its
weights; needs only ``onnx`` + ``numpy``, never torch), ``sface`` (the PyTorch port ``SFaceNet``,
pretrained loading, ONNX export and parity check) and ``fp32_export`` (build the dequantised fp32
ONNX embedder that the core can run instead of the int8 file).

This ``__init__`` deliberately imports nothing, so that ``trainer.model.onnx_weights`` can be used
where torch is not installed.
"""
