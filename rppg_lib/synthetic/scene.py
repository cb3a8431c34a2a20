"""The person layer (face texture, matte, perfusion and specular maps) and the background.

The face is the public-domain NASA portrait that scikit-image bundles
(``skimage.data.astronaut()``), cropped to head, hair and shoulders: rows 0-320, columns 80-380 of
the 512x512 image. All template coordinates below are (x, y) pixel centres in that crop. The
person is cut out with a hand-drawn outline refined by colour (the studio backdrop is pale and
unsaturated), so that any background can go behind her. Everything here runs once per clip; per
frame only the affine warp remains.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

CROP_ROWS = (0, 320)
CROP_COLS = (80, 380)
# OpenCV 4.x's haarcascade_frontalface_default.xml finds the face at (177, 66, 95, 95) in the full
# 512x512 portrait (detectMultiScale, scale 1.1, 5 neighbours); in crop coordinates:
FACE_BOX = (97.0, 66.0, 95.0, 95.0)
FACE_CENTER = (FACE_BOX[0] + (FACE_BOX[2] - 1) / 2, FACE_BOX[1] + (FACE_BOX[3] - 1) / 2)

# Outline of head, neck ring and shoulders (clockwise from the top of the hair).
_PERSON_OUTLINE = [
    (150, 15), (175, 18), (195, 26), (212, 40), (220, 58), (222, 78), (218, 100), (208, 120),
    (190, 134), (186, 148), (205, 160), (222, 188), (238, 230), (262, 250), (290, 262),
    (300, 275), (300, 320), (0, 320), (0, 230), (22, 214), (38, 188), (52, 168), (80, 154),
    (102, 148), (96, 128), (82, 108), (74, 80), (78, 56), (96, 32), (120, 22),
]  # fmt: skip
_FACE_ELLIPSE = ((144, 125), (50, 48))  # where skin may be: face and ears ...
_NECK_ELLIPSE = ((140, 172), (32, 18))  # ... and neck
_HEAD_ELLIPSE = ((144, 122), (62, 58))  # face with temples: where the skin tone is changed
_FEATURES_ELLIPSE = ((144, 128), (36, 34))  # brows, eyes, nose, mouth: never recoloured as hair
_EYES = [((122, 102), (11, 6)), ((164, 103), (11, 6))]
# Perfusion (blood-volume pulsation), strongest on forehead and cheeks: (centre, sigma, weight).
_PERFUSION_BLOBS = [
    ((144, 90), (20, 6), 1.0), ((121, 126), (11, 10), 1.0), ((167, 126), (11, 10), 1.0),
    ((144, 124), (5, 8), 0.5), ((144, 160), (10, 5), 0.5),
]  # fmt: skip
PERFUSION_BASE = 0.3  # the rest of the skin (nose, chin, neck, ears) pulsates weakly
_SPECULAR_BLOBS = [
    ((146, 88), (10, 4), 1.0), ((146, 122), (3, 6), 1.0), ((126, 116), (6, 4), 0.6),
    ((166, 116), (6, 4), 0.6),
]  # fmt: skip
# Melanin absorbs more at short wavelengths: optical density per unit melanin, R, G, B.
_MELANIN_DENSITY = np.array([0.9, 1.3, 1.8], dtype=np.float32)


@dataclass(frozen=True)
class Template:
    """The portrait crop and its maps, float32 (320, 300[, 3]) with values in [0, 1]."""

    rgb: np.ndarray
    alpha: np.ndarray  # person matte
    skin: np.ndarray  # soft skin region (melanin is applied here)
    perfusion: np.ndarray  # pulse weight: 0 off skin, eyes and hair; 1 on forehead and cheeks
    specular: np.ndarray  # shape of the specular highlights
    hair: np.ndarray
    clothing: np.ndarray


def _blobs(shape: tuple[int, int], blobs: list) -> np.ndarray:
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float32)
    out = np.zeros(shape, np.float32)
    for (cx, cy), (sx, sy), weight in blobs:
        out += weight * np.exp(-0.5 * (((xx - cx) / sx) ** 2 + ((yy - cy) / sy) ** 2))
    return out


def _ellipse(shape: tuple[int, int], center: tuple, axes: tuple) -> np.ndarray:
    mask = np.zeros(shape, np.uint8)
    cv2.ellipse(mask, center, axes, 0, 0, 360, 1, -1)
    return mask.astype(bool)


@lru_cache(maxsize=1)
def load_template() -> Template:
    """Build the template maps from the bundled portrait (cached; arrays are read-only)."""
    from skimage import data  # imported here: scikit-image is only needed for the texture

    crop = np.ascontiguousarray(data.astronaut()[slice(*CROP_ROWS), slice(*CROP_COLS)])
    shape = crop.shape[:2]
    ycc = cv2.cvtColor(crop, cv2.COLOR_RGB2YCrCb).astype(np.int16)
    hsv = cv2.cvtColor(crop, cv2.COLOR_RGB2HSV).astype(np.int16)
    cr, sat, val = ycc[..., 1], hsv[..., 1], hsv[..., 2]
    kernel = np.ones((3, 3), np.uint8)

    outline = np.zeros(shape, np.uint8)
    cv2.fillPoly(outline, [np.array(_PERSON_OUTLINE, np.int32)], 1)
    backdrop = (cr < 139) & (val > 140) & (sat < 50)  # pale, unsaturated studio backdrop
    inner = cv2.erode(outline, kernel, iterations=6) > 0
    outer = cv2.dilate(outline, kernel, iterations=6) > 0
    person = (inner | (outer & ~backdrop)).astype(np.uint8)
    person = cv2.morphologyEx(person, cv2.MORPH_OPEN, kernel)
    person = cv2.morphologyEx(person, cv2.MORPH_CLOSE, kernel, iterations=2)
    alpha = cv2.GaussianBlur(person.astype(np.float32), (0, 0), 1.0)

    face_region = _ellipse(shape, *_FACE_ELLIPSE) | _ellipse(shape, *_NECK_ELLIPSE)
    skin = (cr >= 140) & (sat >= 35) & (sat <= 110) & (val > 150) & face_region & (person > 0)
    eyes = np.zeros(shape, bool)
    for center, axes in _EYES:
        eyes |= _ellipse(shape, center, axes)
    perfused = (skin & ~eyes).astype(np.float32)
    perfused = cv2.GaussianBlur(perfused, (0, 0), 1.0)
    perfusion = perfused * np.minimum(1.0, PERFUSION_BASE + _blobs(shape, _PERFUSION_BLOBS))
    # The skin tone changes on all the visible skin (temples too, bright or not very saturated),
    # a smooth region without holes; hair (darker or more saturated) keeps its own colour.
    tone_region = (_ellipse(shape, *_HEAD_ELLIPSE) | face_region) & (person > 0)
    tone = ((cr >= 137) & (sat <= 100) & (val >= 150) & tone_region).astype(np.uint8)
    tone = cv2.morphologyEx(tone, cv2.MORPH_CLOSE, np.ones((7, 7), np.uint8))
    skin_soft = cv2.GaussianBlur(tone.astype(np.float32), (0, 0), 2.0)
    specular = cv2.GaussianBlur(skin.astype(np.float32), (0, 0), 1.0)
    specular *= _blobs(shape, _SPECULAR_BLOBS)

    rows = np.arange(shape[0])[:, None]
    skin_near = cv2.dilate(tone, kernel, iterations=3) > 0
    features = _ellipse(shape, *_FEATURES_ELLIPSE)
    hair = (person > 0) & (rows < 140) & ~skin_near & ~features
    clothing = (person > 0) & (rows >= 140) & ~skin_near & ~face_region
    maps = {
        "rgb": crop.astype(np.float32) / 255.0,
        "alpha": alpha,
        "skin": skin_soft.astype(np.float32),
        "perfusion": perfusion.astype(np.float32),
        "specular": specular.astype(np.float32),
        "hair": cv2.GaussianBlur(hair.astype(np.float32), (0, 0), 1.5),
        "clothing": cv2.GaussianBlur(clothing.astype(np.float32), (0, 0), 1.5),
    }
    for array in maps.values():
        array.flags.writeable = False
    return Template(**maps)


@dataclass(frozen=True)
class Subject:
    """Per-seed appearance of the person (all drawn from the subject stream)."""

    face_width_fraction: float
    center_fraction: tuple[float, float]  # face-box centre, fraction of the frame (x, y)
    flip: bool
    melanin: float
    hair_gain: tuple[float, float, float]
    clothing_hue_shift_deg: float
    clothing_value: float
    exposure: float  # skin highlights land near exposure * 255 DN

    def to_dict(self) -> dict:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(self).items()}


def draw_subject(rng: np.random.Generator, knobs: dict) -> Subject:
    """Draw a subject; every value is drawn even where a knob pins it, to keep the stream stable."""
    u = rng.uniform(size=10)
    lo, hi = knobs["face_width_range"]
    mel_lo, mel_hi = knobs["melanin_range"]
    brightness = 0.3 + 1.0 * u[5]
    redness = -0.15 + 0.35 * u[6]
    return Subject(
        face_width_fraction=float(lo + u[0] * (hi - lo)),
        center_fraction=(float(0.42 + 0.16 * u[1]), float(0.45 + 0.1 * u[2])),
        flip=bool(u[3] < 0.5),
        melanin=float(mel_lo + u[4] * (mel_hi - mel_lo)),
        hair_gain=tuple(float(brightness * g) for g in (1 + redness, 1.0, 1 - redness)),
        clothing_hue_shift_deg=float(360.0 * u[7]),
        clothing_value=float(0.6 + 0.5 * u[8]),
        exposure=float(0.62 + 0.18 * u[9]),
    )


def _recolour(template: Template, subject: Subject) -> np.ndarray:
    """The template's RGB (float32, 0-1) with the subject's skin, hair and clothes."""
    rgb = template.rgb.copy()
    skin = template.skin[..., None]
    rgb *= 1.0 - skin + skin * np.exp(-subject.melanin * _MELANIN_DENSITY)
    hair = template.hair[..., None]
    rgb = np.minimum(1.0, rgb * (1.0 - hair + hair * np.array(subject.hair_gain, np.float32)))
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)  # float input: hue in degrees
    hsv[..., 0] = np.mod(hsv[..., 0] + subject.clothing_hue_shift_deg, 360.0)
    hsv[..., 2] *= subject.clothing_value
    dressed = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
    clothing = template.clothing[..., None]
    return rgb * (1.0 - clothing) + dressed * clothing


@dataclass(frozen=True)
class PersonLayers:
    """The person rendered once per clip on a canvas padded by ``pad`` pixels on every side.

    ``diffuse`` is (Hc, Wc, 4) float32: premultiplied RGB in DN and the matte; ``maps`` is
    (Hc, Wc, 2) float32: matte x perfusion weight, and matte x specular shape (0-1).
    ``face_center`` and ``face_size`` are in frame pixels (canvas minus pad) at rest.
    """

    diffuse: np.ndarray
    maps: np.ndarray
    pad: int
    face_center: tuple[float, float]
    face_size: tuple[float, float]


def render_person(subject: Subject, size: int) -> PersonLayers:
    """Scale the recoloured template so the face box is ``face_width_fraction * size`` wide and
    paste it on a canvas of ``size + 2 * pad`` with the face centre where the subject puts it."""
    template = load_template()
    rgb = _recolour(template, subject)
    layers = [
        np.dstack([rgb * template.alpha[..., None], template.alpha]),
        np.dstack([template.perfusion * template.alpha, template.specular * template.alpha]),
    ]
    face_center_x = FACE_CENTER[0]
    if subject.flip:
        layers = [layer[:, ::-1] for layer in layers]
        face_center_x = template.alpha.shape[1] - 1 - FACE_CENTER[0]
    # Extend the shoulders past the crop (replicating its edge) so that head motion or a wide
    # frame never reveals where the crop ends; the hair never touches the top or the sides.
    ext = template.alpha.shape[0] // 2
    layers = [
        cv2.copyMakeBorder(
            np.ascontiguousarray(layer, np.float32), 0, ext, ext, ext, cv2.BORDER_REPLICATE
        )
        for layer in layers
    ]
    face_center_x += ext
    scale = subject.face_width_fraction * size / FACE_BOX[2]
    h0, w0 = layers[0].shape[:2]
    w1, h1 = max(1, round(w0 * scale)), max(1, round(h0 * scale))
    # cv2.resize takes at most 4 channels with INTER_AREA: resize the two stacks apart.
    small = np.dstack(
        [cv2.resize(layer, (w1, h1), interpolation=cv2.INTER_AREA) for layer in layers]
    )
    sx, sy = w1 / w0, h1 / h0
    # Pixel centres map as (u + 0.5) * s - 0.5 under cv2.resize.
    cx_small = (face_center_x + 0.5) * sx - 0.5
    cy_small = (FACE_CENTER[1] + 0.5) * sy - 0.5

    pad = size
    canvas = np.zeros((size + 2 * pad, size + 2 * pad, small.shape[2]), np.float32)
    want_x, want_y = subject.center_fraction[0] * size, subject.center_fraction[1] * size
    ox, oy = round(want_x + pad - cx_small), round(want_y + pad - cy_small)
    # Paste with clipping to the canvas.
    x0, y0 = max(ox, 0), max(oy, 0)
    x1, y1 = min(ox + w1, canvas.shape[1]), min(oy + h1, canvas.shape[0])
    canvas[y0:y1, x0:x1] = small[y0 - oy : y1 - oy, x0 - ox : x1 - ox]
    # Fill below the pasted shoulders with their bottom row (the body goes on below the frame).
    canvas[y1:, x0:x1] = canvas[y1 - 1 : y1, x0:x1]

    canvas[..., :3] *= 255.0 * subject.exposure
    # Flush the Gaussian tails to zero: subnormal floats make later arithmetic ~10x slower.
    canvas[np.abs(canvas) < 1e-6] = 0.0
    return PersonLayers(
        diffuse=np.ascontiguousarray(canvas[..., :4]),
        maps=np.ascontiguousarray(canvas[..., 4:6]),
        pad=pad,
        face_center=(ox + cx_small - pad, oy + cy_small - pad),
        face_size=(FACE_BOX[2] * sx, FACE_BOX[3] * sy),
    )


def make_background(rng: np.random.Generator, size: int) -> tuple[np.ndarray, dict]:
    """A smooth random room: base colour, multi-scale texture, a lighting gradient and a few soft
    rectangles (door, shelf, poster). Returns (size, size, 3) float32 in DN and what was drawn."""
    base_hsv = np.array(
        [[[rng.uniform(0, 360), rng.uniform(0.05, 0.5), rng.uniform(0.35, 0.75)]]], np.float32
    )
    base = cv2.cvtColor(base_hsv, cv2.COLOR_HSV2RGB)[0, 0] * 255.0
    texture = np.zeros((size, size, 3), np.float32)
    for sigma_fraction, weight in ((0.25, 1.0), (0.08, 0.5), (0.025, 0.25)):
        white = rng.standard_normal((size, size, 3)).astype(np.float32)
        white[..., 1:] = 0.6 * white[..., :1] + 0.4 * white[..., 1:]  # mostly grey texture
        smooth = cv2.GaussianBlur(
            white, (0, 0), sigma_fraction * size, borderType=cv2.BORDER_REFLECT
        )
        texture += weight * smooth / (smooth.std() + 1e-12)
    contrast = rng.uniform(0.05, 0.15)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size - 0.5
    gx, gy = rng.uniform(-0.3, 0.3, size=2)
    image = base * (1.0 + contrast * texture / 1.2) * (1.0 + gx * xx + gy * yy)[..., None]
    shapes = []
    for _ in range(int(rng.integers(0, 4))):
        x0, y0 = rng.uniform(-0.2, 0.9, size=2) * size
        w, h = rng.uniform(0.1, 0.5, size=2) * size
        colour = (
            cv2.cvtColor(
                np.array(
                    [[[rng.uniform(0, 360), rng.uniform(0, 0.6), rng.uniform(0.2, 0.9)]]],
                    np.float32,
                ),
                cv2.COLOR_HSV2RGB,
            )[0, 0]
            * 255.0
        )
        mask = np.zeros((size, size), np.float32)
        cv2.rectangle(mask, (round(x0), round(y0)), (round(x0 + w), round(y0 + h)), 1.0, -1)
        mask = cv2.GaussianBlur(mask, (0, 0), 0.6)[..., None]
        image = image * (1.0 - mask) + colour * mask * (1.0 + 0.3 * contrast * texture)
        shapes.append([float(x0), float(y0), float(w), float(h)])
    info = {"base_rgb": [float(c) for c in base], "contrast": float(contrast), "rectangles": shapes}
    return np.clip(image, 0.0, 255.0).astype(np.float32), info
