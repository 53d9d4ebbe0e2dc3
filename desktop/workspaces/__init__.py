"""One presenter + view module per task. A workspace talks only to the Session and the JobRunner
(never to another workspace); MainWindow puts them behind the mode bar in the order below.

``WORKSPACES``: name → (module in this package, class). A workspace class takes
``(session, jobs, parent=None)`` and has ``title`` and ``default_split`` (splitter shares)."""

WORKSPACES = {
    "explain": ("explain", "ExplainWorkspace"),
    "compare": ("compare", "CompareWorkspace"),
    "diagnose": ("diagnose", "DiagnoseWorkspace"),
    "dataset": ("dataset", "DatasetWorkspace"),
    "units": ("units", "UnitsWorkspace"),
    "distill": ("distill", "DistillWorkspace"),
    "study": ("study", "StudyWorkspace"),
}


def workspace_class(name: str):
    """The class registered as ``name`` (imported on demand)."""
    from importlib import import_module

    module, cls = WORKSPACES[name]
    return getattr(import_module(f"{__name__}.{module}"), cls)
