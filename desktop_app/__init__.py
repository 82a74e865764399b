"""FaceGate: face-recognition attendance and door access control."""

__version__ = "0.1.0"
