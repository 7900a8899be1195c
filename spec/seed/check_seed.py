#!/usr/bin/env python3
"""Check that seed/twilio-verify-v2.seed.yaml is the original seed, restored.

The original seed (an OpenAPI YAML document whose line breaks were lost) and the
restored file must hold exactly the same tokens in the same order once whitespace is
collapsed. If PyYAML is installed, the restored file must also load as YAML.

Usage: check_seed.py [ORIGINAL_SEED_TXT] [RESTORED_YAML]
Defaults: $VERIFYD_SEED_TXT or /work/shared/seed/twilio-verify-v2.seed.txt, and the
restored file next to this script. Exits non-zero on failure.
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_ORIGINAL = os.environ.get(
    "VERIFYD_SEED_TXT", "/work/shared/seed/twilio-verify-v2.seed.txt")
DEFAULT_RESTORED = os.path.join(HERE, "twilio-verify-v2.seed.yaml")


def collapse(text):
    return " ".join(text.split())


def main(argv):
    original_path = argv[1] if len(argv) > 1 else DEFAULT_ORIGINAL
    restored_path = argv[2] if len(argv) > 2 else DEFAULT_RESTORED
    with open(original_path, encoding="utf-8") as f:
        original = f.read()
    with open(restored_path, encoding="utf-8") as f:
        restored = f.read()

    ok = True
    a, b = collapse(original), collapse(restored)
    if a != b:
        ok = False
        ta, tb = a.split(" "), b.split(" ")
        i = next((i for i, (x, y) in enumerate(zip(ta, tb)) if x != y),
                 min(len(ta), len(tb)))
        print("FAIL: tokens differ at token %d" % i)
        print("  original: %s" % " ".join(ta[max(0, i - 8):i + 8]))
        print("  restored: %s" % " ".join(tb[max(0, i - 8):i + 8]))
    else:
        print("ok: same %d tokens in the same order" % len(a.split(" ")))

    if "\t" in restored:
        ok = False
        print("FAIL: the restored file contains tab characters")
    for n, line in enumerate(restored.splitlines(), 1):
        indent = len(line) - len(line.lstrip(" "))
        if line.strip() and indent % 2:
            ok = False
            print("FAIL: line %d is not indented by a multiple of 2 spaces" % n)

    try:
        import yaml  # optional
    except ImportError:
        print("note: PyYAML not installed; YAML load not checked")
    else:
        try:
            doc = yaml.safe_load(restored)
        except yaml.YAMLError as e:
            ok = False
            print("FAIL: yaml.safe_load: %s" % e)
        else:
            if not isinstance(doc, dict) or doc.get("openapi") != "3.1.0":
                ok = False
                print("FAIL: restored document does not start with openapi: 3.1.0")
            elif len(restored.splitlines()) < 2:
                ok = False
                print("FAIL: restored document is still one line")
            else:
                print("ok: yaml.safe_load succeeds (%d paths, %d schemas)" % (
                    len(doc.get("paths", {})),
                    len(doc.get("components", {}).get("schemas", {}))))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
