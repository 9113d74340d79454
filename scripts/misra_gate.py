#!/usr/bin/env python3
"""Gate cppcheck MISRA findings on docs/misra-deviations.md.

usage: misra_gate.py DEVIATIONS.md CPPCHECK_OUTPUT SRC_DIR...

Fails (exit 1) when
  - a finding's rule has no deviation whose scope glob matches its file,
  - an inline `cppcheck-suppress misra-c2012-R` names a rule without a 'site' deviation,
  - cppcheck reports anything that is not a MISRA finding (errors, unmatched suppressions).
"""
import fnmatch
import os
import re
import sys


def load_deviations(path):
    devs = {}
    row = re.compile(r"^\|\s*(\d+\.\d+)\s*\|\s*([^|]+?)\s*\|")
    with open(path, encoding="utf-8") as f:
        for line in f:
            m = row.match(line)
            if m:
                devs.setdefault(m.group(1), []).append(m.group(2))
    return devs


def main():
    devs = load_deviations(sys.argv[1])
    findings = open(sys.argv[2], encoding="utf-8").read().splitlines()
    bad, accepted = [], {}
    pat = re.compile(r"^(?P<file>[^:]+):(?P<line>\d+): \[(?P<id>[^\]]+)\] (?P<msg>.*)$")
    for line in findings:
        if not line.strip():
            continue
        m = pat.match(line)
        if not m:
            bad.append("unparsed cppcheck output: " + line)
            continue
        fid = m.group("id")
        if not fid.startswith("misra-c2012-"):
            bad.append(line)
            continue
        rule = fid[len("misra-c2012-"):]
        scopes = [s for s in devs.get(rule, []) if s != "site"]
        if any(fnmatch.fnmatch(m.group("file"), s) for s in scopes):
            accepted[rule] = accepted.get(rule, 0) + 1
        else:
            bad.append(line + "   (no deviation for rule %s here)" % rule)
    supp = re.compile(r"cppcheck-suppress\s+misra-c2012-(\d+\.\d+)")
    inline = {}
    for root in sys.argv[3:]:
        for dirpath, _, files in os.walk(root):
            for name in files:
                if not name.endswith((".c", ".h")):
                    continue
                path = os.path.join(dirpath, name)
                for no, text in enumerate(open(path, encoding="utf-8"), 1):
                    for rule in supp.findall(text):
                        inline[rule] = inline.get(rule, 0) + 1
                        if "site" not in devs.get(rule, []):
                            bad.append("%s:%d: inline suppression of rule %s, which "
                                       "docs/misra-deviations.md does not allow at sites" % (path, no, rule))
    for rule in sorted(accepted):
        print("misra: rule %s: %d finding(s) inside its documented scope" % (rule, accepted[rule]))
    for rule in sorted(inline):
        print("misra: rule %s: %d documented site deviation(s)" % (rule, inline[rule]))
    if bad:
        print("misra: %d finding(s) not covered by docs/misra-deviations.md:" % len(bad))
        for b in bad:
            print("  " + b)
        return 1
    print("misra: clean")
    return 0


if __name__ == "__main__":
    sys.exit(main())
