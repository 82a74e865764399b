"""Generated presentation attacks for liveness tests and benches (numpy + OpenCV, deterministic).

No licensed attack videos exist, so attacks are rendered: a face photo (an enrolment photo, an LFW
image) printed or shown on a screen, held in front of a pinhole camera by a hand that sways and
trembles. Every random choice comes from ``numpy.random.default_rng(seed)``: the same parameters
and seed give the same frames, bit for bit.

Kinds (:class:`AttackKind`):

- ``print``: the photo on paper with a white margin (colour loss of print, paper grain, matte
  shading), on a plane that moves, turns and bends slightly (a cylinder, rendered in strips);
- ``cutout``: the same print cut along the face (an ellipse), so the room shows around it;
- ``screen``: the photo on a phone or tablet: bezel, the screen's pixel grid (re-sampled by the
  camera into moiré), a bluish emissive white, a moving glare and rolling refresh bands;
- ``replay``: the same screen showing a real video (frames given) instead of a still;
- ``partial``: a print with the eyes cut out, held to a real face (frames of a real video given
  with their landmarks): it follows the head as a plane, the real eyes show through.

Geometry: the camera has focal length ``focal`` x frame width pixels, looking down +Z; the media
plane is centred ``distance`` media heights in front of it and rotated by yaw, pitch and roll
(degrees) that follow smooth random sways plus a tremor.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import StrEnum, unique

import cv2
import numpy as np


@unique
class AttackKind(StrEnum):
    """The kinds of generated presentation attack (ISO/IEC 30107-3 "attack types")."""

    PRINT = "print"
    CUTOUT = "cutout"
    SCREEN = "screen"
    REPLAY = "replay"
    PARTIAL = "partial"


@dataclass(frozen=True)
class AttackParams:
    """Parameters of one generated attack (all kept in tests and benches).

    frames, fps: length and frame rate; size: (width, height) of the frames, pixels; seed: every
    random choice; media_height: share of the frame height the media fills when frontal;
    focal: focal length in frame widths; sway_deg: amplitude of the slow yaw/pitch sway, degrees;
    roll_deg: amplitude of the roll; shift: amplitude of the sideways drift, share of the frame;
    tremor_deg: hand tremor, degrees (standard deviation per frame, smoothed); bend: sagitta of the
    bent plane as a share of the media width (0 flat); colour_loss: 0..1 towards grey and lower
    contrast (print); grain: paper grain, standard deviation of a multiplicative noise; margin:
    white paper margin, share of the photo's size; bezel: bezel width, share of the screen's
    width (screens); moire: 0..1 visibility of the pixel grid; glare: 0..1 peak of the reflection;
    banding: relative amplitude of the refresh bands; band_period_px: their period, frame pixels;
    blur_sigma, noise_sigma, jpeg_quality: the camera.
    """

    kind: AttackKind = AttackKind.PRINT
    frames: int = 45
    fps: float = 15.0
    size: tuple[int, int] = (640, 480)
    seed: int = 0
    media_height: float = 0.75
    focal: float = 1.0
    sway_deg: float = 10.0
    roll_deg: float = 4.0
    shift: float = 0.04
    tremor_deg: float = 0.4
    bend: float = 0.04
    colour_loss: float = 0.35
    grain: float = 0.04
    margin: float = 0.08
    bezel: float = 0.06
    moire: float = 0.6
    glare: float = 0.6
    banding: float = 0.06
    band_period_px: float = 24.0
    blur_sigma: float = 0.7
    noise_sigma: float = 2.5
    jpeg_quality: int = 85

    def with_seed(self, seed: int) -> AttackParams:
        return replace(self, seed=seed)


@dataclass(frozen=True)
class AttackClip:
    """A generated attack: frames (each (H, W, 3) uint8 BGR), their times in seconds, the params."""

    frames: tuple[np.ndarray, ...]
    ts: tuple[float, ...]
    params: AttackParams


# ----------------------------------------------------------------------------- media
def _face_ellipse_mask(shape: tuple[int, int], landmarks: np.ndarray, grow: float = 1.0) -> np.ndarray:
    """(H, W) float32 mask 0..1 of an ellipse around the face given by its (5, 2) landmarks."""
    lm = np.asarray(landmarks, np.float32).reshape(5, 2)
    iod = float(np.linalg.norm(lm[0] - lm[1]))
    centre = lm.mean(axis=0) + np.array([0.0, -0.15 * iod], np.float32)
    axes = (int(1.35 * iod * grow), int(1.85 * iod * grow))
    mask = np.zeros(shape, np.float32)
    cv2.ellipse(mask, (int(centre[0]), int(centre[1])), axes, 0.0, 0.0, 360.0, 1.0, -1, cv2.LINE_AA)
    return cv2.GaussianBlur(mask, (0, 0), 1.0)


def print_media(photo: np.ndarray, p: AttackParams, rng: np.random.Generator) -> np.ndarray:
    """The photo as printed: colour loss, paper tint and grain, white margin. float32 0..1 BGR."""
    img = photo.astype(np.float32) / 255.0
    grey = img.mean(axis=2, keepdims=True)
    img = img * (1 - p.colour_loss) + grey * p.colour_loss  # washed-out inks
    img = 0.06 + img * (0.88 - 0.25 * p.colour_loss)  # no deep black, no pure white
    tint = np.array([0.93, 0.97, 1.0], np.float32)  # slightly warm paper (BGR)
    img = img * tint
    m = round(p.margin * max(img.shape[:2]))
    if m > 0:
        img = cv2.copyMakeBorder(img, m, m, m, m, cv2.BORDER_CONSTANT, value=(0.93 * 0.95, 0.97 * 0.95, 0.95))
    grain = rng.normal(0.0, p.grain, img.shape[:2]).astype(np.float32)
    grain = cv2.GaussianBlur(grain, (0, 0), 0.8)
    return np.asarray(np.clip(img * (1.0 + grain[:, :, None]), 0.0, 1.0), np.float32)


def screen_media(content: np.ndarray, p: AttackParams, bezel_colour: tuple[float, float, float],
                 screen_px: int = 480) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """Content shown on a screen with its pixel grid and bezel: (media float32 0..1 BGR, screen
    rectangle (x, y, w, h) in the media). The content is shown at ``screen_px`` screen rows, each
    screen pixel drawn as three subpixel columns (B, G, R order in BGR) with a dark gap row."""
    h0, w0 = content.shape[:2]
    rows = screen_px
    cols = max(round(w0 * rows / h0), 1)
    shown = cv2.resize(content, (cols, rows), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
    shown = np.clip(shown ** 0.9 * np.array([1.05, 1.0, 0.93], np.float32), 0, 1)  # emissive, bluish white
    sub = 3
    big = np.repeat(np.repeat(shown, sub, axis=0), sub, axis=1)
    grid = np.zeros((sub, sub, 3), np.float32)
    for c in range(3):
        grid[:, c, c] = 1.0  # one colour per subpixel column
    grid[sub - 1, :, :] *= 0.35  # the dark line between pixel rows
    grid = grid * 3.0 * 0.8  # keep the mean brightness
    tiled = np.tile(grid, (rows, cols, 1))
    big = big * (1 - p.moire) + np.clip(big * tiled, 0, 1) * p.moire
    bz = round(p.bezel * big.shape[1])
    media = cv2.copyMakeBorder(big, bz, int(bz * 1.6), bz, bz, cv2.BORDER_CONSTANT, value=bezel_colour)
    return media, (bz, bz, big.shape[1], big.shape[0])


# ----------------------------------------------------------------------------- geometry
def _rotation(yaw: float, pitch: float, roll: float) -> np.ndarray:
    y, x, z = (math.radians(a) for a in (yaw, pitch, roll))
    ry = np.array([[math.cos(y), 0, math.sin(y)], [0, 1, 0], [-math.sin(y), 0, math.cos(y)]])
    rx = np.array([[1, 0, 0], [0, math.cos(x), -math.sin(x)], [0, math.sin(x), math.cos(x)]])
    rz = np.array([[math.cos(z), -math.sin(z), 0], [math.sin(z), math.cos(z), 0], [0, 0, 1]])
    return np.asarray(rz @ rx @ ry, np.float64)


@dataclass(frozen=True)
class _Pose:
    yaw: float
    pitch: float
    roll: float
    dx: float
    dy: float
    dz: float


def trajectory(p: AttackParams, rng: np.random.Generator) -> list[_Pose]:
    """Smooth random sway (two sines per axis) plus a smoothed tremor, one pose per frame."""
    t = np.arange(p.frames) / p.fps

    def sway(amp: float) -> np.ndarray:
        f1, f2 = rng.uniform(0.15, 0.5), rng.uniform(0.5, 1.2)
        a1, a2 = rng.uniform(0.5, 1.0), rng.uniform(0.0, 0.35)
        return amp * (a1 * np.sin(2 * np.pi * f1 * t + rng.uniform(0, 2 * np.pi))
                      + a2 * np.sin(2 * np.pi * f2 * t + rng.uniform(0, 2 * np.pi)))

    def tremor(sd: float) -> np.ndarray:
        n = rng.normal(0.0, sd, p.frames + 4)
        return np.convolve(n, np.ones(3) / math.sqrt(3.0), mode="same")[2:-2]

    yaw, pitch, roll = sway(p.sway_deg), sway(0.7 * p.sway_deg), sway(p.roll_deg)
    yaw, pitch, roll = yaw + tremor(p.tremor_deg), pitch + tremor(p.tremor_deg), roll + tremor(0.5 * p.tremor_deg)
    dx, dy, dz = sway(p.shift), sway(0.6 * p.shift), sway(0.05)
    return [_Pose(*(float(v[i]) for v in (yaw, pitch, roll, dx, dy, dz))) for i in range(p.frames)]


def render_plane(media: np.ndarray, alpha: np.ndarray | None, background: np.ndarray, pose: _Pose,
                 p: AttackParams, shade: bool) -> np.ndarray:
    """Composite ``media`` (float32 0..1, (h, w, 3)) seen on a posed, bent plane over ``background``
    (float32 0..1, frame size). alpha: (h, w) 0..1 cut-out mask, or None for the whole rectangle."""
    fw, fh = p.size
    mh, mw = media.shape[:2]
    f = p.focal * fw
    height3 = 1.0  # the media is one unit high
    dist = f * height3 / (p.media_height * fh)  # so that it fills media_height of the frame
    unit = height3 / mh
    rot = _rotation(pose.yaw, pose.pitch, pose.roll)
    centre = np.array([pose.dx * fw * dist / f, pose.dy * fh * dist / f, dist * (1.0 + pose.dz)])
    sag = p.bend * mw * unit
    half_w = mw * unit / 2.0

    def project(u: np.ndarray, v: np.ndarray) -> np.ndarray:
        xx = (u - mw / 2.0) * unit
        yy = (v - mh / 2.0) * unit
        zz = sag * (1.0 - (xx / half_w) ** 2)  # the middle bulges towards the camera
        pts = np.stack([xx, yy, -zz], axis=-1) @ rot.T + centre
        return np.stack([f * pts[..., 0] / pts[..., 2] + fw / 2.0, f * pts[..., 1] / pts[..., 2] + fh / 2.0], -1)

    strips = 8 if p.bend > 0 else 1
    edges = np.linspace(0, mw, strips + 1)
    out = background.copy()
    src_alpha = np.ones((mh, mw), np.float32) if alpha is None else alpha.astype(np.float32)
    for i in range(strips):
        u0, u1 = edges[i], edges[i + 1]
        src = np.array([[u0, 0], [u1, 0], [u1, mh], [u0, mh]], np.float32)
        dst = project(src[:, 0].astype(np.float64), src[:, 1].astype(np.float64)).astype(np.float32)
        hom = cv2.getPerspectiveTransform(src, dst)
        if strips == 1:
            strip_alpha = src_alpha
        else:
            strip_alpha = np.zeros_like(src_alpha)
            a0, a1 = math.floor(u0), math.ceil(u1) + (1 if i < strips - 1 else 0)
            strip_alpha[:, a0:min(a1, mw)] = src_alpha[:, a0:min(a1, mw)]
        bx0, by0 = (max(math.floor(v) - 1, 0) for v in dst.min(axis=0))
        bx1, by1 = min(math.ceil(dst[:, 0].max()) + 2, fw), min(math.ceil(dst[:, 1].max()) + 2, fh)
        if bx1 <= bx0 or by1 <= by0:
            continue
        hom = np.array([[1, 0, -bx0], [0, 1, -by0], [0, 0, 1]], np.float64) @ hom  # warp into the strip's box only
        size = (bx1 - bx0, by1 - by0)
        warped = cv2.warpPerspective(media, hom, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        a = cv2.warpPerspective(strip_alpha, hom, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        if shade:  # matte paper: brighter when it faces the light (above the camera), per strip
            um = (u0 + u1) / 2.0
            slope = -2.0 * sag * ((um - mw / 2.0) * unit) / half_w**2
            normal = rot @ np.array([slope, 0.0, -1.0]) / math.sqrt(1 + slope**2)
            light = np.array([0.2, -0.5, -1.0]) / math.sqrt(1.29)
            warped = warped * float(np.clip(0.55 + 0.5 * float(normal @ light), 0.3, 1.1))
        sub = out[by0:by1, bx0:bx1]
        out[by0:by1, bx0:bx1] = sub * (1.0 - a[:, :, None]) + warped * a[:, :, None]
    return out


def room(p: AttackParams, rng: np.random.Generator) -> np.ndarray:
    """A plain, softly lit background (a wall), float32 0..1 BGR of the frame size."""
    fw, fh = p.size
    low = rng.uniform(0.35, 0.75, (4, 4, 1)) * rng.uniform(0.85, 1.0, (1, 1, 3))
    wall = cv2.resize(low.astype(np.float32), (fw, fh), interpolation=cv2.INTER_CUBIC)
    texture = cv2.GaussianBlur(rng.normal(0.0, 0.03, (fh, fw)).astype(np.float32), (0, 0), 2.0)
    return np.clip(wall * (1.0 + texture[:, :, None]), 0.0, 1.0)


def camera(frame: np.ndarray, p: AttackParams, rng: np.random.Generator) -> np.ndarray:
    """Defocus, sensor noise and compression of the camera: float32 0..1 in, uint8 BGR out."""
    img = cv2.GaussianBlur(frame, (0, 0), p.blur_sigma) if p.blur_sigma > 0 else frame
    img = img * 255.0 + rng.normal(0.0, p.noise_sigma, img.shape).astype(np.float32)
    out = np.clip(img, 0, 255).astype(np.uint8)
    ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, int(p.jpeg_quality)])
    decoded = cv2.imdecode(buf, cv2.IMREAD_COLOR) if ok else None
    return np.asarray(decoded, np.uint8) if decoded is not None else out


def _screen_effects(frame: np.ndarray, mask: np.ndarray, i: int, pose: _Pose, p: AttackParams,
                    phase0: float, glare_at: tuple[float, float]) -> np.ndarray:
    """Rolling refresh bands and a glare that slides with the screen's tilt, inside ``mask``."""
    fh, fw = frame.shape[:2]
    rows = np.arange(fh, dtype=np.float32)[:, None]
    bands = 1.0 + p.banding * np.sin(2 * np.pi * rows / p.band_period_px + phase0 + 0.9 * i)
    out = frame * (1.0 + (bands[:, :, None] - 1.0) * mask[:, :, None])
    if p.glare > 0:
        gx = fw * (glare_at[0] + pose.yaw / 60.0)
        gy = fh * (glare_at[1] + pose.pitch / 60.0)
        yy, xx = np.mgrid[:fh, :fw].astype(np.float32)
        g = np.exp(-(((xx - gx) / (0.12 * fw)) ** 2 + ((yy - gy) / (0.08 * fh)) ** 2))
        out = out + p.glare * 1.2 * (g * mask)[:, :, None]
    return np.asarray(np.clip(out, 0.0, 1.0), np.float32)


# ----------------------------------------------------------------------------- attacks
def generate(photo: np.ndarray, photo_landmarks: np.ndarray, params: AttackParams,
             video: Sequence[np.ndarray] = (), video_landmarks: Sequence[np.ndarray] = ()) -> AttackClip:
    """Render one attack.

    photo: (H, W, 3) uint8 BGR of the attacked person (print, cutout, screen, partial);
    photo_landmarks: its (5, 2) landmarks; video: frames of a real video for ``replay`` (shown on
    the screen, in a loop) and ``partial`` (the real face the print is held to); video_landmarks:
    (5, 2) landmarks of each of those frames (``partial``). ValueError when what a kind needs is
    missing.
    """
    p = params
    rng = np.random.default_rng(p.seed)
    kind = AttackKind(p.kind)
    if kind in (AttackKind.REPLAY, AttackKind.PARTIAL) and not video:
        raise ValueError(f"a {kind} attack needs the frames of a real video")
    if kind is AttackKind.PARTIAL and len(video_landmarks) < len(video):
        raise ValueError("a partial attack needs the landmarks of every video frame")
    poses = trajectory(p, rng)
    if kind is AttackKind.PARTIAL:
        frames = _partial(photo, photo_landmarks, video, video_landmarks, p, rng)
    else:
        frames = _held(photo, photo_landmarks, video, kind, poses, p, rng)
    return AttackClip(tuple(frames), tuple(i / p.fps for i in range(p.frames)), p)


def _held(photo: np.ndarray, lm: np.ndarray, video: Sequence[np.ndarray], kind: AttackKind,
          poses: list[_Pose], p: AttackParams, rng: np.random.Generator) -> list[np.ndarray]:
    bg = room(p, rng)
    screen = kind in (AttackKind.SCREEN, AttackKind.REPLAY)
    alpha: np.ndarray | None = None
    media: np.ndarray | None = None
    if kind is AttackKind.PRINT:
        media = print_media(photo, p, rng)
    elif kind is AttackKind.CUTOUT:
        media = print_media(photo, replace(p, margin=0.0), rng)
        alpha = _face_ellipse_mask(media.shape[:2], lm, grow=1.1)
    bezel = (0.05, 0.05, 0.06) if rng.random() < 0.6 else (0.85, 0.86, 0.86)
    if screen:
        p = replace(p, bend=0.0)  # phones and tablets are rigid
    if kind is AttackKind.SCREEN:
        media, _ = screen_media(photo, p, bezel)
    phase0 = float(rng.uniform(0, 2 * np.pi))
    glare_at = (float(rng.uniform(0.3, 0.7)), float(rng.uniform(0.2, 0.5)))
    frames = []
    for i, pose in enumerate(poses):
        if kind is AttackKind.REPLAY:
            media, _ = screen_media(video[i % len(video)], p, bezel)
        assert media is not None
        frame = render_plane(media, alpha, bg, pose, p, shade=not screen)
        if screen:
            small = np.ones((max(media.shape[0] // 8, 2), max(media.shape[1] // 8, 2), 3), np.float32)
            mask = render_plane(small, None, np.zeros_like(bg), pose, p, shade=False)[:, :, 0]
            frame = _screen_effects(frame, mask, i, pose, p, phase0, glare_at)
        frames.append(camera(frame, p, rng))
    return frames


def _partial(photo: np.ndarray, lm: np.ndarray, video: Sequence[np.ndarray],
             video_landmarks: Sequence[np.ndarray], p: AttackParams, rng: np.random.Generator) -> list[np.ndarray]:
    """A print of ``photo`` with eye holes, held flat against the real face of ``video``."""
    media = print_media(photo, replace(p, margin=0.0), rng)
    lm = np.asarray(lm, np.float32).reshape(5, 2)
    alpha = _face_ellipse_mask(media.shape[:2], lm, grow=1.05)
    iod = float(np.linalg.norm(lm[0] - lm[1]))
    for eye in lm[:2]:
        cv2.ellipse(alpha, (int(eye[0]), int(eye[1])), (int(0.28 * iod), int(0.16 * iod)), 0, 0, 360, 0.0, -1,
                    cv2.LINE_AA)
    outer = [0, 1, 3, 4]
    frames = []
    for i in range(p.frames):
        real = video[i % len(video)]
        rl = np.asarray(video_landmarks[i % len(video)], np.float32).reshape(5, 2)
        hom = cv2.getPerspectiveTransform(np.ascontiguousarray(lm[outer]), np.ascontiguousarray(rl[outer]))
        h, w = real.shape[:2]
        warped = cv2.warpPerspective(media, hom, (w, h), flags=cv2.INTER_LINEAR)
        a = cv2.warpPerspective(alpha, hom, (w, h), flags=cv2.INTER_LINEAR)[:, :, None]
        frame = real.astype(np.float32) / 255.0 * (1 - a) + warped * a
        frames.append(camera(cv2.resize(frame, p.size), replace(p, blur_sigma=0.4), rng))
    return frames
