"""FaceGate trainer: fine-tunes the shipped SFace embedder with PyTorch (never imports Qt).

Sub-packages: ``trainer.model`` (PyTorch port of SFace, ONNX import/export) and ``trainer.losses``
(classification heads and metric-learning losses, with a name registry).

Modules: ``trainer.data`` (aligned crops from a database or images, held-out split, augmentation,
P-K batches), ``trainer.train`` (``TrainConfig``, ``train``: warm-up, partial unfreezing, early
stopping, checkpoints), ``trainer.evaluate`` (candidate vs current model: identification, open set,
LFW, JSON + PNG report), ``trainer.gate`` (deploy only if not worse), ``trainer.deploy``
(``deploy_candidate`` with ``DeployOptions``: export, parity check, evaluate, gate, register, switch,
prior, recalibrate), ``trainer.pipeline`` (``retrain``: train, then deploy), ``trainer.progress``
(``RetrainStage`` and the typed ``RetrainProgress`` record every step reports; no torch) and
``trainer.cli`` (the ``facegate-train`` command).
"""
