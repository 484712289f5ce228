"""The one exception type whose message is shown to the animator as it is."""


class MeshTalkError(Exception):
    """A problem the user can fix (no sound strip, edit mode, unwritable folder, ...)."""
