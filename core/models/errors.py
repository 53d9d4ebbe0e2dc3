"""Errors raised while loading models; their messages are meant for the user."""


class ModelLoadError(ValueError):
    """A model, its weights or its labels could not be loaded; the message says why."""
