"""The notebooks' steps: one module per notebook, named after it.

Each module holds the per-clip loops and the run-folder artifacts of its notebook, so that the
notebook itself only explains and calls. Modules import the reusable core (``rppg_lib.*``), the
run layer's record/report API (``rppg_lib.run.record``, ``rppg_lib.run.report``) and the steps of
earlier notebooks, never later ones: data flows one way.

| notebook | module |
|---|---|
| (all) | :mod:`.study` (dataset and split), :mod:`.artifacts` (files between notebooks) |
| ``00_synthetic_data`` | :mod:`.synthetic_data` |
| ``01_preprocessing`` | :mod:`.preprocessing` |
| ``02_train_tscan`` | :mod:`.train_tscan` |
| ``03_attention_masks`` | :mod:`.attention_masks` |
| ``04_inverse_attention_noise`` | :mod:`.inverse_attention_noise` |
| ``05_lstm_denoising`` | :mod:`.lstm_denoising` |
| ``06_evaluation`` | :mod:`.evaluation` |
| ``07_reproduce_benefit_of_distraction`` | :mod:`.reproduce_benefit_of_distraction` |
"""
