"""Print where the installed rtsep keeps its files, for people who link against it.

One ``name path`` line each: ``library`` (librtsep, the C ABI), ``include`` (the
folder with ``rtsep.h``), ``lv2`` (the plugin bundle as built, without a model; see
``rtsep lv2 install``) and ``models`` (the shipped models). ``--pkg-config`` prints
a pkg-config file instead::

    rtsep paths --pkg-config > ~/.local/lib/pkgconfig/rtsep.pc
    cc host.c $(pkg-config --cflags --libs rtsep)
"""

from __future__ import annotations

import argparse
import sys

from rtsep.errors import UserError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--pkg-config", action="store_true", help="print a pkg-config file (rtsep.pc)")


def pkg_config_text() -> str:
    """An ``rtsep.pc`` naming the installed librtsep and rtsep.h."""
    from rtsep import __version__
    from rtsep.paths import header_path, library_path

    library, header = library_path(), header_path()
    if library is None or header is None:
        raise UserError("librtsep is not built in this installation (CMake option RTSEP_BUILD_CAPI)")
    rpath = "" if sys.platform == "win32" else " -Wl,-rpath,${libdir}"
    return (f"libdir={library.parent}\nincludedir={header.parent}\n\n"
            f"Name: rtsep\nDescription: real-time singing-voice separation (C ABI)\n"
            f"Version: {__version__}\nLibs: -L${{libdir}} -lrtsep{rpath}\nCflags: -I${{includedir}}\n")


def run(args: argparse.Namespace) -> int:
    from rtsep.paths import header_path, library_path, lv2_bundle_dir, models_dir

    if args.pkg_config:
        sys.stdout.write(pkg_config_text())
        return 0
    header = header_path()
    rows = (("library", library_path()), ("include", header.parent if header else None),
            ("lv2", lv2_bundle_dir()), ("models", models_dir()))
    for name, path in rows:
        print(f"{name:8s} {path if path is not None else '(not built)'}")
    return 0
