"""The error every reader raises for a file that does not follow its format."""
from __future__ import annotations


class DatasetFormatError(ValueError):
    """Raised for a file that does not follow the documented layout; the
    message names the file (and line, frame or key) and what was expected."""
