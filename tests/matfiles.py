"""Reading MATLAB ``.mat`` files of the reference data: the library's reader, re-exported for the
tests that import it from here."""

from rppg_lib.matfiles import load_mat

__all__ = ["load_mat"]
