#!/usr/bin/env python3
"""Write the seed corpus of the `pipeline` fuzz target (see docs/fuzzing.md).

Each seed is one header byte (bits 0-2: Content-Encoding, 3-5: Content-Type, 6: salted,
7: small limits; the tables are in fuzz_targets/pipeline.rs) followed by a body: the two spec
fixtures from ../shared/fixtures (../../shared from this folder), raw, gzip'd, zlib'd, raw
deflate, as forms, and a few variants that reach the rules of wire contract §3.

  python3 fuzz/make_seeds.py            # writes fuzz/corpus/pipeline/
"""
import gzip
import json
import os
import sys
import urllib.parse
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "..", "..", "shared", "fixtures")
OUT = os.path.join(HERE, "corpus", "pipeline")

# Indexes into the target's ENCODINGS and TYPES tables.
CE_NONE, CE_GZIP, CE_DEFLATE, CE_GZIP_UPPER = 0, 1, 2, 3
CT_NONE, CT_JSON, CT_FORM, CT_FORM_CHARSET, CT_MULTIPART = 0, 1, 2, 3, 4


def head(ce, ct, salted=False, small=False):
    return bytes([ce | ct << 3 | (0x40 if salted else 0) | (0x80 if small else 0)])


def raw_deflate(data):
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    return c.compress(data) + c.flush()


def multipart(data):
    return (b"--XyZ\r\nContent-Disposition: form-data; name=\"data\"\r\n\r\n"
            + data + b"\r\n--XyZ--\r\n")


def variants(doc):
    """A few edits of a fixture that exercise §3's value rules."""
    out = []
    d = json.loads(doc)
    d["generator"] = None
    out.append(d)
    d = json.loads(doc)
    d["columns"] = list(reversed(d["columns"]))
    for rs in d["rowsets"]:
        rs["rows"] = [list(reversed(r)) for r in rs["rows"]]
        rs["regionID"] = 0
    out.append(d)
    d = json.loads(doc)
    for rs in d["rowsets"]:
        rs["generatedAt"] = "2011-10-22 17:43:00.5+0200"
        rs["typeID"] = str(rs["typeID"])
    out.append(d)
    return [json.dumps(v).encode() for v in out]


def main():
    os.makedirs(OUT, exist_ok=True)
    seeds = {}
    for name in ("uudif-orders-spec.json", "uudif-history-spec.json"):
        path = os.path.join(FIXTURES, name)
        try:
            doc = open(path, "rb").read()
        except OSError as e:
            sys.exit(f"fixture {path} missing ({e}): shared/ must sit beside the repository")
        stem = name.split(".")[0]
        form = b"data=" + urllib.parse.quote_plus(doc).encode()
        seeds[f"{stem}-raw"] = head(CE_NONE, CT_NONE) + doc
        seeds[f"{stem}-json-salted"] = head(CE_NONE, CT_JSON, salted=True) + doc
        seeds[f"{stem}-gzip"] = head(CE_GZIP, CT_NONE) + gzip.compress(doc)
        seeds[f"{stem}-gzip-sniffed"] = head(CE_NONE, CT_NONE) + gzip.compress(doc)
        seeds[f"{stem}-zlib"] = head(CE_DEFLATE, CT_NONE) + zlib.compress(doc)
        seeds[f"{stem}-deflate"] = head(CE_DEFLATE, CT_NONE) + raw_deflate(doc)
        seeds[f"{stem}-deflate-as-gzip"] = head(CE_GZIP_UPPER, CT_NONE) + raw_deflate(doc)
        seeds[f"{stem}-form"] = head(CE_NONE, CT_FORM) + form
        seeds[f"{stem}-form-zlib"] = head(CE_DEFLATE, CT_FORM_CHARSET) + zlib.compress(form)
        seeds[f"{stem}-multipart"] = head(CE_NONE, CT_MULTIPART) + multipart(doc)
        seeds[f"{stem}-small-limits"] = head(CE_NONE, CT_NONE, small=True) + doc
        for i, v in enumerate(variants(doc)):
            seeds[f"{stem}-variant{i}"] = head(CE_NONE, CT_NONE) + v
    for name, data in sorted(seeds.items()):
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)
    print(f"{len(seeds)} seeds in {OUT}")


if __name__ == "__main__":
    main()
