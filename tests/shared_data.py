"""The public data sets the tests read live outside the repository, in the sibling ../shared/data
folder (see ../shared/data/README.md for where each one comes from); they are never copied in.

`shared_file(name)`: the file's path. Outside CI a missing file skips the test with a message
saying where the data comes from; in CI (CI=true) it fails the test, loudly.
"""

import os
from pathlib import Path

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def missing_message(path: Path) -> str:
    return (
        f"{path} is missing: the shared data sets live in the sibling folder ../shared/data/ next to this "
        "repository (see its README.md for each set's source); clone or copy it there to run this test"
    )


def shared_file(name: str) -> Path:
    import pytest

    path = DATA / name
    if path.is_file():
        return path
    if in_ci():
        pytest.fail(missing_message(path) + " (CI=true: the data must be there)")
    pytest.skip(missing_message(path))


def script_shared_file(name: str) -> Path:
    """For benchmarks and scripts: the file's path, or exit with the same message when it is missing."""
    path = DATA / name
    if not path.is_file():
        raise SystemExit(missing_message(path))
    return path
