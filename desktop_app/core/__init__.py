"""Headless core of FaceGate: frame sources, detection, alignment, embedding, gallery,
decision policy and storage. Nothing in this package imports Qt."""
