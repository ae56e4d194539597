#!/usr/bin/python3
"""Validates YAML configs against `imgrecipe schema` with an independent
validator (Debian's python3-jsonschema, draft 2020-12).

schema_check.py SCHEMA.json valid|invalid FILE...
  prints one line per file, "ok FILE" or "FAIL FILE: reason", exits 1 on any FAIL.
schema_check.py SCHEMA.json mutate FILE OUTDIR
  writes broken variants of a valid FILE (misspelled keys, wrong enums) to
  OUTDIR, one per file, and prints their names.
"""
import copy
import json
import os
import sys

import jsonschema
import yaml


class Loader(yaml.SafeLoader):
    """YAML as a language server reads it: no timestamp type (YAML 1.2 has
    none; `snapshotTime: 2025-09-18` is a string to the config loader)."""


Loader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:timestamp"]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def load(path):
    with open(path, encoding="utf-8") as f:
        return yaml.load(f, Loader=Loader)


def errors(validator, doc):
    return sorted(validator.iter_errors(doc), key=lambda e: list(e.path))


def mutations(doc):
    """(name, broken document) pairs; each must be rejected."""
    out = []
    d = copy.deepcopy(doc)
    d["inptu"] = {}
    out.append(("toplevel-misspelled", d))
    if isinstance(doc.get("os"), dict):
        d = copy.deepcopy(doc)
        d["os"]["hostnmae"] = "x"
        out.append(("os-misspelled", d))
    d = copy.deepcopy(doc)
    d.setdefault("output", None)
    if not isinstance(d["output"], dict):
        d["output"] = {}
    if not isinstance(d["output"].get("image"), dict):
        d["output"]["image"] = {}
    d["output"]["image"]["format"] = "qcow3"
    out.append(("format-enum", d))
    fss = (doc.get("storage") or {}).get("filesystems") if isinstance(doc.get("storage"), dict) else None
    if isinstance(fss, list) and fss and isinstance(fss[0], dict):
        d = copy.deepcopy(doc)
        d["storage"]["filesystems"][0]["type"] = "ext5"
        out.append(("fs-type-enum", d))
    users = (doc.get("os") or {}).get("users") if isinstance(doc.get("os"), dict) else None
    if isinstance(users, list) and users and isinstance(users[0], dict):
        d = copy.deepcopy(doc)
        d["os"]["users"][0]["uid"] = "not-a-number"
        out.append(("uid-type", d))
    return out


def main():
    schema = json.load(open(sys.argv[1], encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    mode = sys.argv[2]
    if mode == "mutate":
        doc = load(sys.argv[3])
        base = os.path.basename(sys.argv[3]).rsplit(".", 1)[0]
        for name, d in mutations(doc):
            path = os.path.join(sys.argv[4], f"{base}--{name}.yaml")
            with open(path, "w", encoding="utf-8") as f:
                yaml.safe_dump(d, f, sort_keys=False)
            print(path)
        return 0
    bad = 0
    for path in sys.argv[3:]:
        try:
            errs = errors(validator, load(path))
        except yaml.YAMLError as e:
            errs = [f"YAML: {e}"]
        if mode == "valid" and errs:
            e = errs[0]
            where = "/".join(str(p) for p in getattr(e, "path", []))
            print(f"FAIL {path}: {where}: {getattr(e, 'message', e)}")
            bad += 1
        elif mode == "invalid" and not errs:
            print(f"FAIL {path}: accepted by the schema")
            bad += 1
        else:
            print(f"ok {path}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
