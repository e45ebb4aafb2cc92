"""Where the loader looks for a dataset's IDX files, and the error when they are in none.

A *data root* is a folder with one subfolder per dataset, named as the dataset:
``<root>/fashion-mnist/``, ``<root>/mnist/``, ``<root>/kmnist/``, each holding the four
IDX files (``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``, each optionally gzipped as
``*.gz``). Debian's ``/usr/share/datasets`` is such a root: its ``dataset-fashion-mnist``
package installs into ``/usr/share/datasets/fashion-mnist``.

The roots searched, in order:

1. the ``root`` argument, if given; it is then the only place searched;
2. otherwise the environment variable ``PYRO_LOCAL_DATA_DIR``, if set and not empty;
3. then Debian's ``/usr/share/datasets``.

The first root whose dataset folder holds both files of the requested split wins.
"""

import os
from dataclasses import dataclass
from pathlib import Path

from pyro_local._checks import check_enum
from pyro_local.data.catalog import IDX_FILE_NAMES, Split, get_info
from pyro_local.data.errors import DatasetNotFoundError

__all__ = ["DEBIAN_DATA_ROOT", "ENV_VAR", "SearchedPlace", "find_idx_files", "search_roots"]

ENV_VAR = "PYRO_LOCAL_DATA_DIR"
DEBIAN_DATA_ROOT = Path("/usr/share/datasets")


@dataclass(frozen=True)
class SearchedPlace:
    """
    One folder the loader searched for a dataset's files.

    :param pathlib.Path folder: the dataset folder, ``<root>/<name>``.
    :param str source: why it was searched (the argument, the environment variable, or
        Debian's location).
    :param tuple missing: the files (base names, ``[.gz]`` optional) not found there.
    """

    folder: Path
    source: str
    missing: tuple


def search_roots(root=None):
    """
    The data roots to search, in order, each with the reason it is searched.

    :param root: an explicit data root; when given, it is the only one.
    :type root: str or os.PathLike or None
    :returns: a list of ``(path, source)`` pairs.
    :raises TypeError: if ``root`` is not a path.
    """
    if root is not None:
        if not isinstance(root, (str, os.PathLike)):
            raise TypeError(
                f"root: expected a path (str or os.PathLike), got {type(root).__name__}"
            )
        return [(Path(root).expanduser(), "the root argument")]
    roots = []
    env = os.environ.get(ENV_VAR, "")
    if env:
        roots.append((Path(env).expanduser(), f"the environment variable {ENV_VAR}"))
    roots.append((DEBIAN_DATA_ROOT, "Debian's default location"))
    return roots


def _find_file(folder, base):
    # The raw file first: it reads faster, and a folder holding both is unusual.
    for candidate in (folder / base, folder / f"{base}.gz"):
        if candidate.is_file():
            return candidate
    return None


def find_idx_files(name, split, root=None):
    """
    Finds the images and labels files of one split of a dataset.

    :param str name: the dataset name, e.g. ``"fashion-mnist"``.
    :param split: ``"train"`` or ``"test"``.
    :param root: an explicit data root (a folder holding ``<name>/``); see the module
        docstring for the search order when it is ``None``.
    :returns: the paths ``(images, labels)``.
    :raises DatasetNotFoundError: listing each folder searched, what was missing there,
        and how to get the data.
    """
    info = get_info(name)
    split = check_enum(Split, split, "split")
    bases = IDX_FILE_NAMES[split]
    searched = []
    for data_root, source in search_roots(root):
        folder = data_root / info.folder_name
        found = [_find_file(folder, base) for base in bases]
        if all(found):
            return tuple(found)
        missing = tuple(b for b, f in zip(bases, found, strict=True) if f is None)
        searched.append(SearchedPlace(folder, source, missing))
    raise DatasetNotFoundError(_not_found_message(info, split, searched), searched)


def _not_found_message(info, split, searched):
    lines = [f"Could not find the {split.value} split of the {info.name!r} dataset. Searched:"]
    for place in searched:
        what = "folder does not exist" if not place.folder.is_dir() else "missing " + ", ".join(
            f"{m}[.gz]" for m in place.missing
        )
        lines.append(f"  - {place.folder} ({place.source}): {what}")
        # A common slip: pointing the root at the dataset folder itself.
        parent = place.folder.parent
        if all(_find_file(parent, m) for m in place.missing):
            lines.append(
                f"    (the files are directly in {parent}; a data root holds one subfolder "
                f"per dataset, so move them to {place.folder} or use the parent folder "
                f"{parent.parent} as the root)"
            )
    lines.append("To get the data, any of:")
    if info.debian_package:
        lines.append(
            f"  - on Debian or Ubuntu: apt-get install {info.debian_package} "
            f"(installs into {DEBIAN_DATA_ROOT / info.folder_name})"
        )
    lines.append(
        f"  - put the four IDX files in <dir>/{info.folder_name}/ and set {ENV_VAR}=<dir>, "
        "or pass root=<dir>"
    )
    if info.name.startswith("fashion-mnist"):
        lines.append(
            "  - use the subset that ships inside pyro-local, which needs no installed data: "
            "pyro_local.data.load('fashion-mnist-small', ...)"
        )
    return "\n".join(lines)
