"""The dataset workbench: a run over a whole (labelled) set of images — inputs (``sources``),
batched explanation and measurement (``worker``, ``run``) written incrementally to a crash-safe,
resumable SQLite run store (``store``), cohorts and tables (``analysis``), spectral relevance
analysis of the maps (``spray``; Lapuschkin et al. 2019), an HTML report (``report``), and
executors: local (default) and Ray (``ray_executor``, the optional ``cluster`` extra)."""
