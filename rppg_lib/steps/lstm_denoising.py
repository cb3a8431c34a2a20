"""Notebook ``05_lstm_denoising``: the LSTM's training items and the denoised clips.

The LSTM trains on (corruption estimates, ground-truth waveform) pairs (:func:`denoiser_items`);
the denoised test clips are stored per clip (:func:`denoise_clips`, :func:`save_denoised`) and
``06_evaluation`` reads them back (:func:`load_denoised`). :func:`with_injected_light` gives the
LSTM the exact injected light instead of the estimates: the bound any estimate can reach.
:func:`linear_denoised` is the classic reference the LSTM must beat: a least-squares filter
(:func:`rppg_lib.denoiser.linear_denoise`) that needs no training.

With a breathing network from notebook 02, a BR LSTM learns the respiration from the corruption
estimates conditioned in the BR band and that network's respiration output
(:func:`breathing_estimates`, ``denoiser_items(..., target="resp")``); its denoised test clips
are stored per clip (:func:`denoise_br_clips`, :func:`load_br_denoised`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from rppg_lib.constants import BR_BAND, BR_DETREND_LAMBDA, DETREND_LAMBDA, HR_BAND, HR_WINDOW_S
from rppg_lib.denoiser import TARGETS, denoise, evaluate_denoiser, linear_denoise
from rppg_lib.inverse_attention import CorruptionEstimates, condition_signal, reconditioned
from rppg_lib.progress import progress_bar
from rppg_lib.steps import artifacts
from rppg_lib.steps.artifacts import BR_DENOISED, DENOISER_STAGE
from rppg_lib.threads import get_thread_settings, network_threads
from rppg_lib.validation import as_signal, check_choice, check_positive_int

__all__ = [
    "DENOISED_KEYS",
    "LINEAR_KEYS",
    "linear_denoised",
    "denoiser_items",
    "with_injected_light",
    "evaluate_denoisers",
    "save_denoised",
    "load_denoised",
    "denoise_clips",
    "torch_threads",
    "breathing_estimates",
    "denoise_br_clips",
    "load_br_denoised",
    "has_br_denoised",
]


# Artifact key of each denoised signal -> the denoiser's channel option.
DENOISED_KEYS: dict[str, str] = {"rgb_pulse": "rgb+pulse", "pulse": "pulse"}
# Key of each linear-filter output -> the corruption it removes.
LINEAR_KEYS: dict[str, str] = {"linear_rgb_pulse": "inverse attention",
                               "linear_light_pulse": "injected light"}


def denoiser_items(
    estimates: Mapping[str, CorruptionEstimates],
    clips: Sequence[Any],
    target: str = "pulse",
) -> list[tuple[CorruptionEstimates, np.ndarray]]:
    """(estimates, ground-truth waveform at the frame times) pairs of ``clips``, in their order:
    the items of :func:`rppg_lib.denoiser.train_denoiser`. target: ``"pulse"`` (the BVP) or
    ``"resp"`` (the respiration). KeyError names clips without estimates."""
    check_choice(target, "target", tuple(TARGETS))
    missing = [c.clip_id for c in clips if c.clip_id not in estimates]
    if missing:
        raise KeyError(f"clips {missing} have no corruption estimates (run notebook 04)")
    items = []
    for clip in clips:
        est = estimates[clip.clip_id]
        bvp = clip.bvp_at_frames() if target == "pulse" else clip.resp_at_frames()
        if len(bvp) != len(est.pulse_conditioned):
            raise ValueError(
                f"clip {clip.clip_id}: {len(bvp)} ground-truth samples for "
                f"{len(est.pulse_conditioned)} estimated frames"
            )
        items.append((est, bvp))
    if not items:
        raise ValueError("clips is empty: no training items")
    return items


def with_injected_light(
    estimates: Mapping[str, CorruptionEstimates], clips: Sequence[Any]
) -> dict[str, CorruptionEstimates]:
    """{clip_id: estimates} of ``clips`` whose R, G, B corruption estimates are replaced by the
    injected illumination gain (synthetic ground truth, ``clip.extra["illumination"]`` (T, 3)),
    conditioned by the same chain (each estimate's lam, band and order): a perfect corruption
    estimate. An LSTM trained on these bounds what any estimate, inverse attention included, can
    give it. The pulse inputs are unchanged."""
    out = {}
    for clip in clips:
        if clip.clip_id not in estimates:
            raise KeyError(f"clip {clip.clip_id} has no corruption estimates (run notebook 04)")
        est = estimates[clip.clip_id]
        light = clip.extra.get("illumination") if isinstance(clip.extra, dict) else None
        if light is None:
            raise ValueError(f"clip {clip.clip_id} carries no injected illumination "
                             "(extra['illumination']; only synthetic clips have it)")
        light = np.asarray(light, dtype=np.float64)
        if light.shape != est.conditioned.shape:
            raise ValueError(f"clip {clip.clip_id}: injected illumination of shape {light.shape} "
                             f"for estimates of shape {est.conditioned.shape}")
        params = est.params
        conditioned = condition_signal(
            light, est.fs, lam=params.get("lam", DETREND_LAMBDA), band=params.get("band", HR_BAND),
            order=params.get("order", 1), name=f"injected illumination of {clip.clip_id}",
        )
        out[clip.clip_id] = dataclasses.replace(
            est, raw=light, conditioned=conditioned,
            params={**params, "corruption_source": "injected illumination"},
        )
    return out


def linear_denoised(
    estimates: Mapping[str, CorruptionEstimates],
    light: Mapping[str, CorruptionEstimates] | None = None,
    *,
    window_s: float = HR_WINDOW_S,
    method: str = "lstsq",
) -> dict[str, dict[str, np.ndarray]]:
    """{clip_id: {key: pulse (T,)}} of the linear filter on each clip of ``estimates``: key
    "linear_rgb_pulse" removes what the inverse-attention estimates (``conditioned`` (T, 3))
    explain from the network's ``pulse_conditioned``; "linear_light_pulse" (where ``light``, from
    :func:`with_injected_light`, has the clip) what the injected light explains. With no estimate
    the filter is the identity: the network's own pulse, not repeated here. window_s: the
    least-squares window in s; method: "lstsq" or "nlms"."""
    if not estimates:
        raise ValueError("estimates is empty: no clips to filter")
    out = {}
    for clip_id, est in estimates.items():
        sources = {"linear_rgb_pulse": est}
        if light is not None and clip_id in light:
            sources["linear_light_pulse"] = light[clip_id]
        out[clip_id] = {
            key: linear_denoise(est.pulse_conditioned, source.conditioned, est.fs,
                                window_s=window_s, method=method)
            for key, source in sources.items()
        }
    return out


def evaluate_denoisers(
    runs: Mapping[str, tuple[torch.nn.Module, Mapping[str, CorruptionEstimates]]],
    clips: Sequence[Any],
    *,
    window_s: float = HR_WINDOW_S,
) -> pd.DataFrame:
    """Heart-rate window rows of several denoisers on the same ``clips``.

    runs: {label: (LSTM, {clip_id: estimates it reads})}; each LSTM denoises every clip of
    ``clips`` from its own estimates (:func:`rppg_lib.denoiser.evaluate_denoiser`, windows of
    ``window_s`` s). The network's own pulse (the same in every set of estimates) is evaluated
    once, from the first run. Returns the rows with columns method, clip and scenario (the clip's
    task), ready for :func:`rppg_lib.steps.evaluation.summarize_by_scenario`.
    """
    if not runs:
        raise ValueError("runs is empty: no denoiser to evaluate")
    clips = list(clips)
    names = [c.clip_id for c in clips]
    tables = []
    for i, (label, (model, estimates)) in enumerate(runs.items()):
        tables.append(evaluate_denoiser(model, denoiser_items(estimates, clips), window_s=window_s,
                                        label=label, include_network=i == 0, names=names))
    rows = pd.concat(tables, ignore_index=True)
    task = {c.clip_id: c.task for c in clips}
    return rows.assign(scenario=rows["clip"].map(task))


def save_denoised(
    run_dir: str | os.PathLike, clip_id: str, denoised: Mapping[str, np.ndarray]
) -> Path:
    """Write ``artifacts/05_lstm_denoising/denoised/<clip_id>.npz`` with the denoised pulses
    (T,) of one clip under the keys of :data:`DENOISED_KEYS` ("rgb_pulse", "pulse")."""
    unknown = sorted(set(denoised) - set(DENOISED_KEYS))
    if unknown or not denoised:
        raise ValueError(f"denoised keys must be among {sorted(DENOISED_KEYS)}, got "
                         f"{sorted(denoised)}")
    arrays = {k: as_signal(v, f"denoised[{k!r}]") for k, v in denoised.items()}
    if len({a.size for a in arrays.values()}) != 1:
        raise ValueError(f"denoised signals of clip {clip_id} differ in length: "
                         f"{ {k: a.size for k, a in arrays.items()} }")
    return artifacts.save_arrays(run_dir, DENOISER_STAGE, f"denoised/{clip_id}", **arrays)


def load_denoised(run_dir: str | os.PathLike, clip_id: str) -> dict[str, np.ndarray]:
    """The denoised pulses of ``clip_id`` written by :func:`save_denoised`."""
    return artifacts.load_arrays(run_dir, DENOISER_STAGE, f"denoised/{clip_id}")


def denoise_clips(
    models: Mapping[str, Any],
    estimates: Mapping[str, CorruptionEstimates],
    clip_ids: Sequence[str],
    *,
    run_dir: str | os.PathLike | None = None,
    progress: bool = True,
) -> dict[str, dict[str, np.ndarray]]:
    """{clip_id: {key: denoised pulse (T,) at the clip's frame times}} for each clip in
    ``clip_ids`` and each trained LSTM in ``models`` ({"rgb_pulse": model, "pulse": model}, keys
    of :data:`DENOISED_KEYS`; :func:`rppg_lib.denoiser.denoise` with overlap-add stitching).
    With ``run_dir``, each clip is also saved (:func:`save_denoised`)."""
    unknown = sorted(set(models) - set(DENOISED_KEYS))
    if unknown or not models:
        raise ValueError(f"models keys must be among {sorted(DENOISED_KEYS)}, got {sorted(models)}")
    missing = [i for i in clip_ids if i not in estimates]
    if missing:
        raise KeyError(f"clips {missing} have no corruption estimates (run notebook 04)")
    out = {}
    for clip_id in progress_bar(list(clip_ids), desc="denoise", unit="clip", disable=not progress):
        out[clip_id] = {
            key: denoise(model, estimates[clip_id], channels=DENOISED_KEYS[key])
            for key, model in models.items()
        }
        if run_dir is not None:
            save_denoised(run_dir, clip_id, out[clip_id])
    return out


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run the ``with`` block with ``n`` intra-op CPU threads (``torch.set_num_threads``); the
    previous number is restored afterwards. The LSTM's matrices are small: on a 2-core machine one
    training step of the 64-unit LSTM on 8 windows took 5 ms on one thread and 9 ms on two (and
    five times longer on two while other processes competed for the cores)."""
    settings = get_thread_settings().replace(torch=check_positive_int(n, "n"), manage=True)
    with network_threads(settings):
        yield


def breathing_estimates(
    estimates: Mapping[str, CorruptionEstimates], resp: Mapping[str, np.ndarray]
) -> dict[str, CorruptionEstimates]:
    """{clip_id: the BR LSTM's inputs} for every clip of ``resp``: its corruption estimates
    conditioned in the BR band (``BR_BAND``, detrend λ ``BR_DETREND_LAMBDA``) with the breathing
    network's respiration output ``resp[clip_id]`` (T,) in place of the pulse
    (:func:`rppg_lib.inverse_attention.reconditioned`): [n_R, n_G, n_B, r]."""
    missing = [i for i in resp if i not in estimates]
    if missing:
        raise KeyError(f"clips {missing} have no corruption estimates (run notebook 04)")
    return {
        clip_id: reconditioned(estimates[clip_id], derivative, lam=BR_DETREND_LAMBDA,
                               band=BR_BAND)
        for clip_id, derivative in resp.items()
    }


def denoise_br_clips(
    model: Any,
    br_estimates: Mapping[str, CorruptionEstimates],
    clip_ids: Sequence[str],
    *,
    run_dir: str | os.PathLike | None = None,
    progress: bool = True,
) -> dict[str, np.ndarray]:
    """{clip_id: the BR LSTM's respiration (T,) at the clip's frame times} for ``clip_ids``
    (:func:`rppg_lib.denoiser.denoise` of :func:`breathing_estimates`); with ``run_dir`` each is
    saved to ``artifacts/05_lstm_denoising/denoised_br/<clip_id>.npz``."""
    missing = [i for i in clip_ids if i not in br_estimates]
    if missing:
        raise KeyError(f"clips {missing} have no breathing estimates")
    out = {}
    for clip_id in progress_bar(list(clip_ids), desc="denoise BR", unit="clip",
                                disable=not progress):
        out[clip_id] = denoise(model, br_estimates[clip_id], channels="rgb+pulse")
        if run_dir is not None:
            artifacts.save_arrays(run_dir, DENOISER_STAGE, f"{BR_DENOISED}/{clip_id}",
                                  resp=out[clip_id])
    return out


def has_br_denoised(run_dir: str | os.PathLike, clip_id: str) -> bool:
    """Whether notebook 05 saved a BR LSTM respiration for ``clip_id``."""
    folder = artifacts.stage_dir(run_dir, DENOISER_STAGE, create=False)
    return (folder / BR_DENOISED / f"{clip_id}.npz").exists()


def load_br_denoised(run_dir: str | os.PathLike, clip_id: str) -> np.ndarray:
    """The BR LSTM's respiration (T,) of ``clip_id`` saved by :func:`denoise_br_clips`."""
    return artifacts.load_arrays(run_dir, DENOISER_STAGE, f"{BR_DENOISED}/{clip_id}")["resp"]
