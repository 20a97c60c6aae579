"""Where this kl_compat runs from: its source checkout, or an installed copy (a wheel in site-packages).

What the commands may write follows from it. In a source checkout (the repository, installed editable
or run in place) the package's data files are the repository's own: `kl-compat golden` regenerates the
goldens there, `kl-compat report` refreshes the shipped measurements beside the committed report, and
`kl-compat env create` installs this checkout, editable, into another version's environment. In an
installed copy the package's folder belongs to pip: nothing is ever written into it (`golden` needs
`--dir`), and another environment gets a wheel re-packed from the installed files, never the name
`kl-compat` looked up on a package index (whatever is published under that name is someone else's code
as far as this copy knows). NumPy-free, like the parser.
"""

from __future__ import annotations

from pathlib import Path

INSTALLED_DIRS = ("site-packages", "dist-packages")


def package_dir() -> Path:
    import kl_compat

    return Path(kl_compat.__file__).resolve().parent


def conformance_dir() -> Path:
    """The folder of the package's data: goldens, known differences, claims, environments, measurements."""
    from kl_compat import conformance

    return Path(conformance.__file__).resolve().parent


def source_checkout() -> Path | None:
    """The repository's root when kl_compat runs from its source, else None.

    A source checkout: the package's conformance folder is `ROOT/conformance`, beside `ROOT/pyproject.toml`,
    `ROOT/adapters/` and `ROOT/kl_compat/` (the very package running), and none of it lies inside an
    installed environment's site-packages. A git work tree is not required (an unpacked source archive is
    a checkout too)."""
    conformance = conformance_dir()
    root = conformance.parent
    if any(part in INSTALLED_DIRS for part in conformance.parts):
        return None
    if (root / "pyproject.toml").is_file() and (root / "adapters").is_dir() and (root / "kl_compat").resolve() == package_dir():
        return root
    return None
