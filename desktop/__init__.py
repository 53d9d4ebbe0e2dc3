"""Saliency Studio's desktop application (PySide6 + pyqtgraph), a thin layer over ``core``."""
