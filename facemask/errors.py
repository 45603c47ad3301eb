"""The one exception users can cause: bad files, missing models, unusable input."""


class FacemaskError(Exception):
    """A problem a person can act on; its message is shown as-is, never with a traceback."""
