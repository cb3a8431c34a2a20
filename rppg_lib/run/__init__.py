"""The run machinery: running the notebooks with papermill (:mod:`.runner`), parameter sets
(:mod:`.params`), recorded results (:mod:`.record`), figures, tables and ``index.html``
(:mod:`.report`), provenance (:mod:`.provenance`) and the ``rppg`` command line (:mod:`.cli`).

It imports the reusable core (``rppg_lib.*``), never the notebooks' steps (``rppg_lib.steps``).
"""
