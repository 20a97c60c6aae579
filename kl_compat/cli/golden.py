"""`kl-compat golden`: regenerate the goldens from the spec (byte-identical), or --check them."""

from __future__ import annotations

from pathlib import Path

from ..errors import UsageError
from ..exitcode import ExitCode


def cmd_golden(args) -> int:
    from .. import golden, results

    if args.dir is not None and args.dir.exists() and not args.dir.is_dir():
        raise UsageError(f"--dir {args.dir}: is a file, not a directory")
    if args.check:
        golden.verify_checksums(args.dir)
        drifted = golden.drift(args.dir)
        if drifted:
            print(f"goldens drift from the spec: {', '.join(drifted)} (regenerate with `kl-compat golden`)")
            return ExitCode.FAILED
        print("goldens match the spec")
        return ExitCode.OK
    if args.dir is None:
        from ..checkout import source_checkout

        if source_checkout() is None:
            raise UsageError(f"the goldens of an installed kl_compat ({golden.default_dir()}) belong to the package and are "
                             "not regenerated: give --dir DIR to write them elsewhere, or run from a source checkout")
    directory = Path(args.dir or golden.default_dir())
    if not directory.is_dir():
        try:
            directory.mkdir(parents=True)
        except OSError as e:
            raise UsageError(f"--dir {directory}: cannot create it: {e.strerror or e}") from None
    lock = results.OutputLock(directory / golden.MANIFEST)  # each file is written atomically; the set under a lock
    try:
        manifest = golden.write(directory)
    finally:
        lock.release()
    print(f"wrote {manifest['cases']} cases ({manifest['samples']} samples) to {directory}")
    return ExitCode.OK


def add_parsers(sub) -> None:
    """`golden` and its arguments."""
    g = sub.add_parser("golden", help="regenerate the goldens from the spec (byte-identical), or --check them")
    g.add_argument("--check", action="store_true", help="verify checksums and that the goldens match the spec")
    g.add_argument("--dir", type=Path, default=None, help="goldens directory (default: the package's)")
    g.set_defaults(func=cmd_golden)
