#!/usr/bin/env python3
"""Validates ExecutionBroker v1.0 documents (JSON or YAML files) against the spec's OpenAPI 3.1 schemas.

usage: scripts/eb_schema_check.py --spec DIR [--lenient] [--extension-kind PREFIX]... SCHEMA FILE...
  SCHEMA: OfferSetResponse | Session | ExecutionRequest (or any components.yaml schema name)

What plain JSON Schema does not do, and this adds:
- discriminators: every `$ref` to a schema with a `discriminator.mapping` that is not an `allOf` member (i.e. a
  place where a concrete kind is expected) is pointed at NAME__dispatch: the base, plus one if/then per mapped kind,
  plus an enum of the mapped kinds (an unknown kind is an error; kinds starting with --extension-kind are checked
  against the base only).
- strictness (unless --lenient): leaf object schemas get additionalProperties:false, and each dispatched concrete
  kind gets unevaluatedProperties:false, so a renamed or invented field (`parameters`, `images`) is an error.
  Skyport's documented extensions are allowed by name (SESSION_EXT, OFFERSET_EXT).
"""
import argparse, json, pathlib, sys
import yaml
from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry
from referencing.jsonschema import DRAFT202012

# Skyport's documented extensions, allowed by name where they appear (specs/openapi.yaml describes each).
SESSION_EXT = {"facility", "offerset", "results", "message", "progress", "federated", "staging"}
OFFERSET_EXT = {"expires", "request", "rejected", "funnel", "ranking"}
EXTENSIONS = {"AbstractExecutionSession": SESSION_EXT, "AbstractComputeResource": {"gpus"}}


def resolve(uri, ref):
    base, _, frag = ref.partition("#")
    full = (pathlib.Path(uri[len("file://"):]).parent / base).resolve().as_uri() if base else uri
    return f"{full}#{frag}"


def schemas(doc):
    return doc.get("components", {}).get("schemas", {})


def load(spec):
    return {f.as_uri(): yaml.safe_load(f.read_text()) for f in sorted(spec.rglob("*.yaml"))}


def allof_targets(docs):
    out = set()
    def walk(n, uri):
        if isinstance(n, dict):
            for item in n.get("allOf", []) if isinstance(n.get("allOf"), list) else []:
                if isinstance(item, dict) and isinstance(item.get("$ref"), str):
                    out.add(resolve(uri, item["$ref"]))
            for v in n.values():
                walk(v, uri)
        elif isinstance(n, list):
            for v in n:
                walk(v, uri)
    for uri, doc in docs.items():
        walk(doc, uri)
    return out


def prepare(docs, strict, extension_kinds):
    if strict:
        targets = allof_targets(docs)
        for uri, doc in docs.items():
            for name, s in schemas(doc).items():
                if "properties" in s and "allOf" not in s and "discriminator" not in s \
                        and f"{uri}#/components/schemas/{name}" not in targets:
                    s["additionalProperties"] = False
    abstract = set()
    for uri, doc in docs.items():
        for name, s in list(schemas(doc).items()):
            d = s.get("discriminator") if isinstance(s, dict) else None
            if not d or "mapping" not in d:
                continue
            prop = d["propertyName"]
            known = {"enum": sorted(d["mapping"])}
            if extension_kinds:
                known = {"anyOf": [known] + [{"type": "string", "pattern": "^" + p.replace(".", r"\.")} for p in extension_kinds]}
            branches = []
            for kind, target in d["mapping"].items():
                then = {"$ref": target}
                if strict:
                    then["unevaluatedProperties"] = False
                    if name in EXTENSIONS:
                        then["properties"] = {k: True for k in EXTENSIONS[name]}
                branches.append({"if": {"properties": {prop: {"const": kind}}, "required": [prop]}, "then": then})
            schemas(doc)[name + "__dispatch"] = {
                "allOf": [{"$ref": f"#/components/schemas/{name}"}] + branches,
                "properties": {prop: known},
            }
            abstract.add(f"{uri}#/components/schemas/{name}")

    def walk(n, uri, member=False):
        if isinstance(n, dict):
            ref = n.get("$ref")
            if isinstance(ref, str) and not member and resolve(uri, ref) in abstract:
                n["$ref"] = ref + "__dispatch"
            for k, v in n.items():
                if k == "allOf" and isinstance(v, list):
                    for item in v:
                        walk(item, uri, member=True)
                elif k != "then":
                    walk(v, uri)
        elif isinstance(n, list):
            for v in n:
                walk(v, uri)
    for uri, doc in docs.items():
        walk(doc, uri)


def validator(spec, name, strict=True, extension_kinds=()):
    docs = load(spec)
    prepare(docs, strict, list(extension_kinds))
    root = (spec / "components.yaml").as_uri()
    target = {"Session": "AbstractExecutionSession__dispatch"}.get(name, name)
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", "$ref": f"{root}#/components/schemas/{target}"}
    if strict and name == "OfferSetResponse":
        schema.update(properties={k: True for k in OFFERSET_EXT}, unevaluatedProperties=False)
    registry = Registry().with_resources((u, DRAFT202012.create_resource(d)) for u, d in docs.items())
    return Draft202012Validator(schema, registry=registry, format_checker=FormatChecker())


def problems(v, doc):
    errors = list(v.iter_errors(doc))
    paths = [tuple(e.absolute_path) for e in errors]
    out = []
    for e, p in zip(errors, paths):
        # An object with a deeper error reports every key as unevaluated: keep the deeper error only.
        if e.validator == "unevaluatedProperties" and any(q[:len(p)] == p and len(q) > len(p) for q in paths):
            continue
        line = f"{'/'.join(map(str, p)) or '<root>'}: {e.message[:300]}"
        if line not in out:
            out.append(line)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--spec", required=True, type=lambda s: pathlib.Path(s).resolve())
    ap.add_argument("--lenient", action="store_true")
    ap.add_argument("--extension-kind", action="append", default=[])
    ap.add_argument("schema")
    ap.add_argument("files", nargs="+")
    a = ap.parse_args()
    v = validator(a.spec, a.schema, not a.lenient, a.extension_kind)
    failed = 0
    for f in a.files:
        text = pathlib.Path(f).read_text()
        doc = json.loads(text) if f.endswith(".json") else yaml.safe_load(text)
        found = problems(v, doc)
        failed += bool(found)
        print(f"{'FAIL' if found else 'ok  '} {f}")
        for line in found:
            print(f"     {line}")
    print(f"{len(a.files) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
