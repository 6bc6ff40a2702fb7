"""``streamcolor models list | info NAME | fetch NAME | import NAME FILE | verify [NAME]``.

:func:`add_models_parser` adds the ``models`` subcommand to the main argparse parser and
:func:`run_models_command` runs it; this is CLI code, so it prints. Errors are one line on
stderr and a non-zero exit status.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from typing import Any

from ..zoo import manage, registry
from ..zoo.errors import ZooError
from ..zoo.verify import verify_models

__all__ = ["add_models_parser", "run_models_command", "main"]


def add_models_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``models`` and its actions to an ``argparse`` subparsers object."""
    parser = subparsers.add_parser("models", help="list, fetch, import and verify models",
                                   description=__doc__.splitlines()[0].strip("`."))
    actions = parser.add_subparsers(dest="models_action", metavar="ACTION", required=True)
    actions.add_parser("list", help="known models and what is in the cache")
    info = actions.add_parser("info", help="a model's manifest and measured figures")
    info.add_argument("name")
    info.add_argument("--json", action="store_true", help="print JSON")
    fetch = actions.add_parser("fetch", help="download, check and convert a model")
    fetch.add_argument("name")
    fetch.add_argument("--no-variants", action="store_true", help="skip the fp16/int8 files")
    fetch.add_argument("--timeout", type=float, default=30.0, help="network timeout (s)")
    imp = actions.add_parser("import", help="add a checkpoint or ONNX file you already have")
    imp.add_argument("name")
    imp.add_argument("file")
    imp.add_argument("--family", choices=sorted(registry.FAMILIES),
                     help="needed for a name that is not in the registry")
    imp.add_argument("--input-size", type=int, help="native input size (default: family's)")
    imp.add_argument("--no-checksum", action="store_true",
                     help="accept a checkpoint whose sha256 is not the official one")
    imp.add_argument("--no-variants", action="store_true", help="skip the fp16/int8 files")
    verify = actions.add_parser("verify", help="re-check cached files (sha256, contract)")
    verify.add_argument("name", nargs="?")
    return parser


def _say(message: str) -> None:
    print(message, file=sys.stderr)


def _progress() -> Any:
    shown = {"step": -1}

    def report(done: int, total: int | None) -> None:
        if total:
            step = int(10 * done / total)
            if step != shown["step"]:
                shown["step"] = step
                _say(f"  {done / 1e6:.1f} / {total / 1e6:.1f} MB")
    return report


def _status(name: str) -> str:
    have = [v for v in registry.VARIANTS if registry.variant_path(name, v).is_file()]
    return " ".join(have) if have else "-"


def _list() -> int:
    rows = [("NAME", "FAMILY", "IN->OUT", "SIZE", "LICENSE", "CACHED", "GET WITH")]
    for name, m in sorted(registry.load_manifests().items()):
        get = "fetch" if m.url else ("bundled" if registry.bundled_path(name) else "import")
        rows.append((name, m.family, f"{m.input}->{m.output}", str(m.input_size), m.license,
                     _status(name), get))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    print(f"cache: {registry.cache_dir()}")
    return 0


def _info(name: str, as_json: bool) -> int:
    manifest = registry.get_manifest(name)
    data = {"manifest": manifest.to_dict(), "builtin": manifest.builtin,
            "cache": str(registry.model_dir(name)), "cached": _status(name).split(),
            **registry.read_info(name)}
    if as_json:
        print(json.dumps(data, indent=2))
        return 0
    for key, value in manifest.to_dict().items():
        if value not in (None, ""):
            print(f"{key:12} {value}")
    print(f"{'cache':12} {data['cache']} ({_status(name)})")
    for variant, figures in data.get("variants", {}).items():
        shown = ", ".join(f"{k}={v}" for k, v in figures.items())
        print(f"{variant:12} {shown}")
    for note in data.get("notes", []):
        print(f"{'note':12} {note}")
    return 0


def _verify(name: str | None) -> int:
    results = verify_models(name)
    if not results:
        print("no models in the cache")
    for result in results:
        print(f"{'ok  ' if result.ok else 'FAIL'} {result.name} {result.what}: {result.message}")
    return 0 if all(r.ok for r in results) else 1


def run_models_command(args: argparse.Namespace) -> int:
    """Run the ``models`` action chosen in ``args``; return the exit status."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # onnxruntime's quantizer logs advice as warnings
    try:
        return _dispatch(args)
    except (ZooError, OSError, ValueError) as exc:
        print(f"streamcolor: error: {exc}", file=sys.stderr)
        return 1
    finally:
        root.setLevel(level)


def _dispatch(args: argparse.Namespace) -> int:
    action = args.models_action
    if action == "list":
        return _list()
    if action == "info":
        return _info(args.name, args.json)
    if action == "verify":
        return _verify(args.name)
    if action == "fetch":
        path = manage.fetch_model(args.name, progress=_progress(), timeout=args.timeout,
                                  variants=not args.no_variants, notify=_say)
    else:
        path = manage.import_model(args.name, args.file, family=args.family,
                                   input_size=args.input_size,
                                   check_sha256=not args.no_checksum,
                                   variants=not args.no_variants, notify=_say)
    print(path)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Standalone entry point: ``python -m streamcolor.cli.models models ...``."""
    parser = argparse.ArgumentParser(prog="streamcolor")
    add_models_parser(parser.add_subparsers(dest="command", required=True))
    return run_models_command(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
