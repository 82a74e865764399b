"""Presentation-attack detection (liveness): is the face in front of the camera a live person, or
a photo, a screen or a cut-out? No Qt, no torch; numpy and OpenCV only.

- :class:`PassiveLiveness` (``passive``): per face track, frame by frame, nothing asked;
- :class:`ChallengeLiveness` (``challenge``): a random sequence of head actions, checked in time;
- :class:`LivenessTracks` (``tracks``): one check per track of a camera, for the door loop;
- :func:`check_sequence` (``sequence``): the main face of a video or a folder of frames;
- :class:`LivenessSettings` (``settings``) and :class:`LivenessVerdict` (``verdict``).

The cues live in one module each: ``geometry`` (nose parallax from the five landmarks),
``motion`` (tracked points against a homography), ``border``, ``spectrum`` (moiré, banding),
``glare``. See docs/liveness.md.
"""

from desktop_app.core.liveness.challenge import ChallengeLiveness
from desktop_app.core.liveness.observation import FaceObservation
from desktop_app.core.liveness.passive import PassiveLimits, PassiveLiveness
from desktop_app.core.liveness.sequence import SequenceResult, check_sequence
from desktop_app.core.liveness.settings import LivenessSettings
from desktop_app.core.liveness.tracks import LivenessTracks
from desktop_app.core.liveness.verdict import LivenessVerdict

__all__ = ["ChallengeLiveness", "FaceObservation", "LivenessSettings", "LivenessTracks", "LivenessVerdict",
           "PassiveLimits", "PassiveLiveness", "SequenceResult", "check_sequence"]
