"""Scenario knobs of the synthetic generator: defaults per scenario and their validation.

Every knob is listed once in ``_KNOBS`` with its default for each scenario (the table in the package
docstring mirrors it) and a checker. ``scenario_params`` returns a plain, JSON-serialisable dict.
"""

from __future__ import annotations

import math
import numbers
import textwrap
from collections.abc import Callable
from typing import Any

SCENARIOS: tuple[str, ...] = ("clean", "illumination", "motion", "mixed", "no_pulse")

# Physiological limits that every generated series respects (bpm and breaths/min).
HR_LIMITS_BPM = (45.0, 150.0)
BR_LIMITS_BPM = (8.0, 30.0)
# The band where a heart rate can be found (Hz): in-band flicker and nodding are drawn inside it.
HR_BAND_HZ = (0.7, 2.5)


def _number(name: str, value: Any, lo: float, hi: float) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a number, got {value!r}")
    value = float(value)
    if not (math.isfinite(value) and lo <= value <= hi):
        raise ValueError(f"{name} must lie in [{lo}, {hi}], got {value!r}")
    return value


def _optional_number(lo: float, hi: float) -> Callable[[str, Any], float | None]:
    def check(name: str, value: Any) -> float | None:
        return None if value is None else _number(name, value, lo, hi)

    return check


def _bounded(lo: float, hi: float) -> Callable[[str, Any], float]:
    return lambda name, value: _number(name, value, lo, hi)


def _range(lo: float, hi: float) -> Callable[[str, Any], list[float]]:
    def check(name: str, value: Any) -> list[float]:
        if not isinstance(value, list | tuple) or len(value) != 2:
            raise ValueError(f"{name} must be a (low, high) pair, got {value!r}")
        a, b = (_number(name, v, lo, hi) for v in value)
        if a > b:
            raise ValueError(f"{name} must have low <= high, got {value!r}")
        return [a, b]

    return check


def _optional_freqs(name: str, value: Any) -> list[float] | None:
    if value is None:
        return None
    if not isinstance(value, list | tuple) or len(value) == 0:
        raise ValueError(
            f"{name} must be None or a non-empty list of frequencies in Hz, got {value!r}"
        )
    return [_number(name, v, 1e-3, 1e3) for v in value]


def _count(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not 0 <= value <= 16:
        raise ValueError(f"{name} must be an integer in [0, 16], got {value!r}")
    return int(value)


# name: (default, {scenario: default override}, checker, description)
_C, _I, _M, _X, _N = SCENARIOS
# fmt: off
_KNOBS: dict[str, tuple[Any, dict[str, Any], Callable[[str, Any], Any], str]] = {
    # physiology (the same person in every scenario; only no_pulse hides the pulse)
    "pulse_amplitude": (0.005, {_N: 0.0}, _bounded(0.0, 0.05),
                        "std of the relative green skin intensity change at full perfusion"),
    "hr_mean_bpm": (None, {}, _optional_number(*HR_LIMITS_BPM),
                    "long-term mean heart rate (a clip's mean differs by the slow drift); "
                    "None draws it from hr_mean_range_bpm"),
    "hr_mean_range_bpm": ((55.0, 110.0), {}, _range(*HR_LIMITS_BPM),
                          "range of the per-subject mean heart rate"),
    "hr_drift_bpm": (3.0, {}, _bounded(0.0, 30.0), "std of the slow heart-rate drift (0.01 Hz)"),
    "hrv_bpm": (1.5, {}, _bounded(0.0, 15.0), "std of the fast, beat-to-beat variability (0.2 Hz)"),
    "rsa_bpm": (2.0, {}, _bounded(0.0, 15.0), "amplitude of respiratory sinus arrhythmia"),
    "br_mean_bpm": (None, {}, _optional_number(*BR_LIMITS_BPM),
                    "mean breathing rate; None draws it from br_mean_range_bpm"),
    "br_mean_range_bpm": ((10.0, 20.0), {}, _range(*BR_LIMITS_BPM),
                          "range of the per-subject mean breathing rate"),
    "br_drift_bpm": (1.5, {}, _bounded(0.0, 10.0), "std of the slow breathing-rate drift"),
    "resp_pulse_coupling": (0.15, {}, _bounded(0.0, 1.0),
                            "respiratory modulation of the pulse amplitude and baseline"),
    "breathing_motion": (0.003, {}, _bounded(0.0, 0.05),
                         "std of the breathing head bob, fraction of the frame size"),
    # subject appearance
    "face_width_range": ((0.36, 0.46), {}, _range(0.2, 0.7),
                         "face-box width as a fraction of the frame width"),
    "melanin_range": ((0.0, 0.7), {}, _range(0.0, 1.5), "skin melanin (0 = the texture's own)"),
    "specular_strength": (0.06, {}, _bounded(0.0, 0.5),
                          "peak specular highlight, fraction of full scale"),
    "specular_motion_coupling": (0.5, {}, _bounded(0.0, 5.0),
                                 "change of the highlight with head pose"),
    # illumination (multiplies face and background alike, per RGB channel)
    "illum_drift": (0.01, {_I: 0.06, _X: 0.06}, _bounded(0.0, 0.3),
                    "std of the slow relative illumination drift"),
    "illum_drift_hz": (0.05, {}, _bounded(0.001, 1.0), "bandwidth of the drift"),
    "flicker_amplitude": (0.0, {_I: 0.01, _X: 0.01}, _bounded(0.0, 0.2),
                          "relative amplitude of each flicker sinusoid"),
    "flicker_count": (2, {}, _count, "number of flicker sinusoids; the first lies in the HR band"),
    "flicker_freqs_hz": (None, {}, _optional_freqs,
                         "explicit flicker frequencies (flicker_count is then unused); None draws "
                         "them"),
    "steps_per_minute": (0.0, {_I: 6.0, _X: 6.0}, _bounded(0.0, 60.0),
                         "rate of sudden illumination steps"),
    "step_amplitude": (0.06, {}, _bounded(0.0, 0.3), "relative size of one step"),
    "illum_colour_jitter": (0.25, {}, _bounded(0.0, 1.0),
                            "per-channel deviation of each illumination component from white"),
    # head motion (warps the person layer; the background stays)
    "motion_translation": (0.0, {_M: 0.03, _X: 0.03}, _bounded(0.0, 0.2),
                           "std of the smooth head translation, fraction of the frame size"),
    "motion_rotation_deg": (0.0, {_M: 4.0, _X: 4.0}, _bounded(0.0, 20.0),
                            "std of the smooth in-plane head rotation, degrees"),
    "motion_scale": (0.0, {_M: 0.03, _X: 0.03}, _bounded(0.0, 0.15),
                     "std of the smooth relative head scale change"),
    "motion_bandwidth_hz": (0.3, {}, _bounded(0.01, 5.0), "bandwidth of the smooth head motion"),
    "motion_jumps_per_minute": (0.0, {_M: 4.0, _X: 4.0}, _bounded(0.0, 60.0),
                                "rate of sudden head moves (twice the smooth std, then back)"),
    "nod_amplitude": (0.0, {_M: 0.008, _X: 0.008}, _bounded(0.0, 0.1),
                      "amplitude of periodic nodding inside the HR band, fraction of frame size"),
    "nod_hz": (None, {}, _optional_number(0.05, 15.0), "nodding frequency; None draws one in band"),
    # camera
    "noise_std": (2.0, {}, _bounded(0.0, 50.0), "std of the Gaussian sensor noise, DN"),
}
# fmt: on

KNOB_DESCRIPTIONS: dict[str, str] = {name: spec[3] for name, spec in _KNOBS.items()}


def scenario_params(scenario: str, **overrides: Any) -> dict[str, Any]:
    """Knobs of ``scenario`` (documented defaults) with ``overrides`` applied and validated.

    Returns a JSON-serialisable dict (tuples become lists). Raises ``ValueError`` naming an unknown
    scenario, an unknown override key, or a knob whose value is out of range.
    """
    if scenario not in SCENARIOS:
        raise ValueError(f"scenario must be one of {SCENARIOS}, got {scenario!r}")
    unknown = sorted(set(overrides) - set(_KNOBS))
    if unknown:
        raise ValueError(
            f"unknown synthetic parameter(s) {unknown}; known parameters: {sorted(_KNOBS)}"
        )
    out: dict[str, Any] = {}
    for name, (default, per_scenario, check, _doc) in _KNOBS.items():
        value = overrides.get(name, per_scenario.get(scenario, default))
        out[name] = check(name, value)
    for name in ("hr_mean_range_bpm", "br_mean_range_bpm", "face_width_range", "melanin_range"):
        out[name] = list(out[name])
    return out


def defaults_table() -> str:
    """The documented defaults (as in the package docstring): a Markdown table of the knobs that
    differ between scenarios, then every knob with its ``clean`` default and meaning."""
    per = {s: scenario_params(s) for s in SCENARIOS}
    rows = ["| knob | " + " | ".join(SCENARIOS) + " |", "|---" * (len(SCENARIOS) + 1) + "|"]
    for name in _KNOBS:
        values = [per[s][name] for s in SCENARIOS]
        if any(v != values[0] for v in values):
            rows.append(f"| `{name}` | " + " | ".join(str(v) for v in values) + " |")
    rows.append("")
    for name, doc in KNOB_DESCRIPTIONS.items():
        line = f"- `{name}` = {per['clean'][name]}: {doc}"
        rows.extend(textwrap.wrap(line, width=96, subsequent_indent="  "))
    return "\n".join(rows)
