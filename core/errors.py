"""The one exception type for mistakes a user can fix.

Every error that means "your input is wrong, here is what to do" (an unknown variant, a
missing dataset, a corrupt weights file, an image too large) derives from ``UserError``.
The CLI prints those as one line and the app shows them as a message; anything else is a
bug and keeps its traceback.
"""


class UserError(Exception):
    """Something the user asked for cannot be done; the message says why and what to do."""
