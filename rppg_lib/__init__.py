"""rppg_lib: the library behind the rppg-suite notebooks.

One module per pipeline stage, data flowing one way: video -> preprocess -> models -> attention
-> inverse_attention -> denoiser -> signals/metrics -> report. See ARCHITECTURE.md.
"""

__version__ = "0.1.0"
