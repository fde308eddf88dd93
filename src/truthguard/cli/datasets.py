"""``truthguard datasets``: list the built-in datasets, describe one, or show where its files are."""

from __future__ import annotations

import argparse
from typing import Any

from truthguard.cli.common import add_quiet_argument, echo, emit_json
from truthguard.datasets import base as registry
from truthguard.datasets import files
from truthguard.errors import DataUnavailableError

EXAMPLES = """\
examples:
  truthguard datasets list
  truthguard datasets info emotion
  truthguard datasets path weather --download
"""


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "datasets",
        help="list the built-in datasets, describe one, or locate its files",
        description="Built-in datasets with ground truth. Real ones are read from $TRUTHGUARD_DATA, the user "
        "cache, or downloaded from their authors' URL with a SHA-256 check.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    verbs = parser.add_subparsers(dest="verb", metavar="{list,info,path}", required=True)
    listing = verbs.add_parser("list", help="name and one line per dataset")
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.set_defaults(run=run_list)
    describe = verbs.add_parser("info", help="description, citation, licence, options and files of a dataset")
    describe.add_argument("name", metavar="NAME")
    describe.add_argument("--json", action="store_true", help="print JSON")
    describe.set_defaults(run=run_info)
    locate = verbs.add_parser("path", help="the folder holding a dataset's original files")
    locate.add_argument("name", metavar="NAME")
    locate.add_argument("--download", action="store_true", help="download the files first if they are missing")
    add_quiet_argument(locate)
    locate.set_defaults(run=run_path)


def run_list(args: argparse.Namespace) -> int:
    specs = [registry.info(name) for name in registry.list_datasets()]
    if args.json:
        emit_json({"datasets": [{"name": s.name, "description": s.description} for s in specs]})
    else:
        width = max(len(s.name) for s in specs)
        for spec in specs:
            echo(f"{spec.name:<{width}}  {spec.description}")
    return 0


def _location(spec: registry.DatasetSpec) -> str | None:
    if spec.folder is None:
        return None
    found = files.find(spec.folder)
    return str(found) if found is not None else None


def run_info(args: argparse.Namespace) -> int:
    spec = registry.info(args.name)
    payload: dict[str, Any] = {
        "name": spec.name,
        "description": spec.description,
        "citation": spec.citation,
        "licence": spec.licence or None,
        "options": spec.options(),
        "notes": list(spec.notes),
    }
    if spec.folder is not None:
        payload["folder"] = spec.folder.folder
        payload["files"] = [{"name": f.name, "sha256": f.sha256, "urls": list(f.urls)} for f in spec.folder.files]
        payload["found_at"] = _location(spec)
        payload["searched"] = [str(p) for p in files.candidates(spec.folder)]
    if args.json:
        emit_json(payload)
        return 0
    lines = [f"{spec.name}: {spec.description}", f"citation: {spec.citation}"]
    if spec.licence:
        lines.append(f"licence:  {spec.licence}")
    lines += [f"note:     {note}" for note in spec.notes]
    options = ", ".join(f"{k}={v!r}" for k, v in spec.options().items()) or "none"
    lines.append(f"options:  {options}")
    if spec.folder is not None:
        for remote in spec.folder.files:
            lines.append(f"file:     {remote.name}  sha256 {remote.sha256}")
            lines += [f"          from {url}" for url in remote.urls]
        where = payload["found_at"] or "not on this machine (downloaded on first use)"
        lines.append(f"found at: {where}")
    echo("\n".join(lines))
    return 0


def run_path(args: argparse.Namespace) -> int:
    spec = registry.info(args.name)
    if spec.folder is not None and not args.download and files.find(spec.folder) is None:
        raise DataUnavailableError(
            f"dataset {spec.name!r} is not on this machine "
            f"(searched {', '.join(map(str, files.candidates(spec.folder)))}); "
            f"run 'truthguard datasets path {spec.name} --download' or set TRUTHGUARD_DATA"
        )
    echo(str(registry.path(spec.name, download=args.download)))
    return 0
