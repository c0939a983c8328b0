"""The original's output-path check (check_output_path_legality, FORMATS.md 4.2), shared by the
dump helpers: a text path of at most 4096 characters, components of at most 255, only letters,
digits and ``_ - . /``; an existing path must be a real, writable folder of this user; with
``creatable``, a missing one must be creatable (its nearest existing ancestor a writable folder).
Errors name the argument (``name``)."""
import os
import re
import stat

_PATH_CHARS = re.compile(r"[_A-Za-z0-9/.\-]*")
_PATH_MAX = 4096
_NAME_MAX = 255


def check_output_path(value, name="dump_path", creatable=False):
    """Returns ``value`` as a str path, or raises TypeError / ValueError naming ``name``."""
    if not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"{name} must be a str or os.PathLike, got {type(value).__name__}")
    path = os.fspath(value)
    if not isinstance(path, str):
        raise TypeError(f"{name} must be a text path, got {type(path).__name__}")
    if not path:
        raise ValueError(f"{name} must not be empty (use './' for the current folder)")
    if len(path) > _PATH_MAX:
        raise ValueError(f"{name} is {len(path)} characters long, the limit is {_PATH_MAX}")
    if any(len(part) > _NAME_MAX for part in path.split("/")):
        raise ValueError(f"{name} {path!r} has a component longer than {_NAME_MAX} characters")
    if not _PATH_CHARS.fullmatch(path):
        bad = sorted(set(c for c in path if not _PATH_CHARS.fullmatch(c)))
        raise ValueError(f"{name} {path!r} contains {''.join(bad)!r}: only letters, digits "
                         "and '_', '-', '.', '/' are allowed")
    bare = path.rstrip("/") or "/"  # lstat("link/") would follow the link
    if os.path.lexists(bare):
        info = os.lstat(bare)
        if stat.S_ISLNK(info.st_mode):
            raise ValueError(f"{name} {path!r} is a symbolic link: give the real folder")
        if not stat.S_ISDIR(info.st_mode):
            raise ValueError(f"{name} {path!r} exists and is not a folder")
        if os.geteuid() != 0 and info.st_uid != os.geteuid() and info.st_gid not in os.getgroups():
            raise ValueError(f"{name} {path!r} belongs to another user (uid {info.st_uid})")
        if not os.access(bare, os.W_OK | os.X_OK):
            raise ValueError(f"{name} {path!r} is not writable")
        return path
    if creatable:  # the nearest existing ancestor must be a writable folder, or makedirs fails
        ancestor = os.path.dirname(os.path.abspath(bare))
        while not os.path.lexists(ancestor):
            ancestor = os.path.dirname(ancestor)
        if not os.path.isdir(ancestor):
            raise ValueError(f"{name} {path!r} cannot be created: {ancestor!r} is not a folder")
        if not os.access(ancestor, os.W_OK | os.X_OK):
            raise ValueError(f"{name} {path!r} cannot be created: {ancestor!r} is not writable")
    return path
