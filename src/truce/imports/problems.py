"""What a file import can say is wrong with a file as a whole, in a module light enough for every
command's error handling to import (the readers themselves load pyarrow)."""


class FileProblem(ValueError):
    """The file as a whole cannot be read (missing, empty, not UTF-8, no header)."""
