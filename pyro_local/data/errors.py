"""The errors the data loaders raise: data that is absent, and data that is damaged."""

__all__ = ["CorruptDatasetError", "DatasetNotFoundError"]


class CorruptDatasetError(ValueError):
    """
    A dataset file exists but its contents are not what the dataset calls for: a
    damaged or truncated file, the wrong dimensions, labels out of range. The message
    names the file, what was expected and what was found.
    """


class DatasetNotFoundError(FileNotFoundError):
    """
    A dataset's files are in none of the places the loader searched. The message lists
    each place with the files missing there, and how to install the data.

    :param str message: the full, user-facing message.
    :param tuple searched: the folders searched, in order, as ``SearchedPlace`` records
        (``folder``, ``source``: why it was searched, ``missing``: the files not there).
    """

    def __init__(self, message, searched=()):
        super().__init__(message)
        self.searched = tuple(searched)

    def __str__(self):
        return self.args[0]
