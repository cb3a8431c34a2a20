"""Reproducing the Benefit-of-Distraction release on its own MMSE-HR sample, and its bugs.

The release (Nowara, McDuff, Veeraraghavan, ICCV 2021) ships one 25 fps MMSE-HR video's
intermediate data (attention masks, the CAN's output, masked frames, LSTM input windows, a
held-out LSTM prediction, the ground truth) and Keras 2 weights. This package runs it through the
suite's library and compares:

- ``sample``: reading the sample (:func:`load_sample`, :func:`reference_status`, which never
  raises for a missing folder: the data live outside the repository and are never copied in);
- ``parity``: the inverse-attention arithmetic against GNU Octave's run of the release's
  ``get_noise_estimates.m`` (:func:`inverse_attention_parity`), the released HR LSTM re-run
  (:func:`rerun_hr_lstm`, :func:`waveform_correlations`), and ``print_result.m``'s numbers
  (:func:`protocol_table`, :func:`parity_check` against :data:`PRINT_RESULT_REFERENCE`);
- ``bugs``: each bug of the release measured with the release's behaviour and with the fix
  (:class:`BugEffect` rows, :func:`bug_table`);
- its figures are in :mod:`rppg_lib.steps.notebook_plots`.

Units: rates in Hz, HR in bpm, SNR in dB with the convention named in every table.
"""

from rppg_lib.steps.reproduce_benefit_of_distraction.bugs import (
    BUG_CATALOGUE,
    BugEffect,
    blue_channel_effect,
    bug_catalogue,
    bug_table,
    correlation_effect,
    effective_band,
    release_corrcoef,
    sampling_rate_effect,
    snr_convention_effect,
    stitching_effect,
    zero_input_effect,
    zero_padding_effect,
    zero_target_effect,
)
from rppg_lib.steps.reproduce_benefit_of_distraction.parity import (
    GT_HR_REFERENCE,
    PRINT_RESULT_REFERENCE,
    InverseAttentionParity,
    ProtocolInputs,
    inverse_attention_parity,
    parity_check,
    protocol_table,
    protocol_windows,
    recorded_estimates,
    release_masked_means,
    rerun_hr_lstm,
    single_thread,
    stitch_for_protocol,
    waveform_correlations,
)
from rppg_lib.steps.reproduce_benefit_of_distraction.sample import (
    GT_HR_FS,
    HOP,
    REFERENCE_FILES,
    RELEASE_FS,
    VIDEO_FPS,
    BodSample,
    ReferenceStatus,
    load_sample,
    reference_status,
    trailing_empty_frames,
)

__all__ = [
    "VIDEO_FPS",
    "RELEASE_FS",
    "GT_HR_FS",
    "HOP",
    "REFERENCE_FILES",
    "ReferenceStatus",
    "reference_status",
    "BodSample",
    "load_sample",
    "trailing_empty_frames",
    "PRINT_RESULT_REFERENCE",
    "GT_HR_REFERENCE",
    "release_masked_means",
    "InverseAttentionParity",
    "inverse_attention_parity",
    "recorded_estimates",
    "single_thread",
    "rerun_hr_lstm",
    "stitch_for_protocol",
    "waveform_correlations",
    "ProtocolInputs",
    "protocol_windows",
    "protocol_table",
    "parity_check",
    "BUG_CATALOGUE",
    "BugEffect",
    "bug_catalogue",
    "bug_table",
    "release_corrcoef",
    "effective_band",
    "snr_convention_effect",
    "correlation_effect",
    "stitching_effect",
    "sampling_rate_effect",
    "zero_padding_effect",
    "blue_channel_effect",
    "zero_target_effect",
    "zero_input_effect",
]
