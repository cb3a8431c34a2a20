"""Synthetic face videos with exact ground truth: the suite's default data.

``generate(scenario, seconds, fps, size, seed, **knobs)`` returns a ``SyntheticClip``: RGB uint8
frames of a face on a background and the ground truth (BVP, respiration, per-frame HR and BR, face
box, skin mask, the illumination gain and head motion actually applied). Same arguments give
byte-identical clips; the subject (face, skin tone, hair, clothes, background, position, heart and
breathing rates) depends on ``seed`` alone, so one seed is the same person in every scenario.

Image model, per pixel x, channel c and frame t (dichromatic reflection, Wang et al. 2017):

    I_c(x, t) = g_c(t) [ B_c(x) (1 - a(x')) + D_c(x') (1 - A u_c w(x') bvp(t)) + s(t) S(x') ]
                + n_c(x, t),    x' = the head pose's affine warp of x,

rounded to uint8. B: background; a: the person's matte; D: the person's diffuse colour (the
portrait bundled with scikit-image, recoloured per subject); w: perfusion weight (1 on forehead and
cheeks, 0.3 elsewhere on skin, 0 on hair, eyes, clothes and background); A: ``pulse_amplitude``;
u = [0.33, 0.77, 0.53] / 0.77, the pulsatile colour direction (green strongest); S: specular
highlights (white, on forehead, nose and cheekbones), s(t) their strength, which changes with head
pose; g_c(t): the illumination gain (drift, flicker, steps), shared by face and background; n:
Gaussian sensor noise. **Sign**: ``bvp`` goes up with blood volume, and more blood absorbs more
light, so the skin gets darker at the systolic peak (I falls when bvp rises).

Physiology: HR is a per-subject mean plus slow drift, beat-to-beat variability and respiratory
sinus arrhythmia (within 45-150 bpm); each beat has a systolic peak and a dicrotic notch (two
Gaussians over the cardiac phase integrated from HR); breathing (8-30 /min) modulates the pulse
amplitude and baseline and bobs the head. In ``no_pulse`` ``bvp`` is still the subject's pulse,
but its amplitude in the video is 0.

Scenarios set the corruption. ``clean``: tiny drift, no motion but breathing. ``illumination``:
drift, flicker (one sinusoid inside the HR band, at least 0.15 Hz from the mean HR), sudden steps.
``motion``: head translation, rotation, scale, sudden moves and in-band nodding. ``mixed``: both.
``no_pulse``: ``clean`` without the pulse. Defaults that differ between scenarios:

| knob | clean | illumination | motion | mixed | no_pulse |
|---|---|---|---|---|---|
| `pulse_amplitude` | 0.005 | 0.005 | 0.005 | 0.005 | 0.0 |
| `illum_drift` | 0.01 | 0.06 | 0.01 | 0.06 | 0.01 |
| `flicker_amplitude` | 0.0 | 0.01 | 0.0 | 0.01 | 0.0 |
| `steps_per_minute` | 0.0 | 6.0 | 0.0 | 6.0 | 0.0 |
| `motion_translation` | 0.0 | 0.0 | 0.03 | 0.03 | 0.0 |
| `motion_rotation_deg` | 0.0 | 0.0 | 4.0 | 4.0 | 0.0 |
| `motion_scale` | 0.0 | 0.0 | 0.03 | 0.03 | 0.0 |
| `motion_jumps_per_minute` | 0.0 | 0.0 | 4.0 | 4.0 | 0.0 |
| `nod_amplitude` | 0.0 | 0.0 | 0.008 | 0.008 | 0.0 |

- `pulse_amplitude` = 0.005: std of the relative green skin intensity change at full perfusion
- `hr_mean_bpm` = None: long-term mean heart rate (a clip's mean differs by the slow drift);
  None draws it from hr_mean_range_bpm
- `hr_mean_range_bpm` = [55.0, 110.0]: range of the per-subject mean heart rate
- `hr_drift_bpm` = 3.0: std of the slow heart-rate drift (0.01 Hz)
- `hrv_bpm` = 1.5: std of the fast, beat-to-beat variability (0.2 Hz)
- `rsa_bpm` = 2.0: amplitude of respiratory sinus arrhythmia
- `br_mean_bpm` = None: mean breathing rate; None draws it from br_mean_range_bpm
- `br_mean_range_bpm` = [10.0, 20.0]: range of the per-subject mean breathing rate
- `br_drift_bpm` = 1.5: std of the slow breathing-rate drift
- `resp_pulse_coupling` = 0.15: respiratory modulation of the pulse amplitude and baseline
- `breathing_motion` = 0.003: std of the breathing head bob, fraction of the frame size
- `face_width_range` = [0.36, 0.46]: face-box width as a fraction of the frame width
- `melanin_range` = [0.0, 0.7]: skin melanin (0 = the texture's own)
- `specular_strength` = 0.06: peak specular highlight, fraction of full scale
- `specular_motion_coupling` = 0.5: change of the highlight with head pose
- `illum_drift` = 0.01: std of the slow relative illumination drift
- `illum_drift_hz` = 0.05: bandwidth of the drift
- `flicker_amplitude` = 0.0: relative amplitude of each flicker sinusoid
- `flicker_count` = 2: number of flicker sinusoids; the first lies in the HR band
- `flicker_freqs_hz` = None: explicit flicker frequencies (flicker_count is then unused); None
  draws them
- `steps_per_minute` = 0.0: rate of sudden illumination steps
- `step_amplitude` = 0.06: relative size of one step
- `illum_colour_jitter` = 0.25: per-channel deviation of each illumination component from white
- `motion_translation` = 0.0: std of the smooth head translation, fraction of the frame size
- `motion_rotation_deg` = 0.0: std of the smooth in-plane head rotation, degrees
- `motion_scale` = 0.0: std of the smooth relative head scale change
- `motion_bandwidth_hz` = 0.3: bandwidth of the smooth head motion
- `motion_jumps_per_minute` = 0.0: rate of sudden head moves (twice the smooth std, then back)
- `nod_amplitude` = 0.0: amplitude of periodic nodding inside the HR band, fraction of frame
  size
- `nod_hz` = None: nodding frequency; None draws one in band
- `noise_std` = 2.0: std of the Gaussian sensor noise, DN

(values after ``=`` are the ``clean`` defaults). Every knob can be overridden through ``generate``
or ``scenario_params``; an unknown name raises ``ValueError``.
"""

from .render import SyntheticClip, generate
from .scenarios import SCENARIOS, scenario_params

__all__ = ["SCENARIOS", "SyntheticClip", "generate", "scenario_params"]
