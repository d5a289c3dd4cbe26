#!/usr/bin/env python3
"""Checks that every target in Package.swift lists each module its sources import, of this package or of a dependency.

SwiftPM rebuilds a target when the modules it lists change, not the modules beneath them: a target that imports
CampusPKI but lists only CampusBlackboard kept code compiled for an old layout of a CampusPKI type after an
incremental build, and crashed at run time. A module of another package that a target imports without listing its
product is found only through some other target's dependencies, and goes missing when those change. Only the
toolchain's own modules (Foundation, Glibc, Dispatch, Synchronization, Testing, ...) need not be listed. Run from the
package's directory:

    python3 scripts/check-target-imports.py

Exits 1 and names each target and module that is missing, 0 when none is.
"""
import glob
import re
import sys

manifest = open("Package.swift").read()
targets = []
for match in re.finditer(r"\.(target|executableTarget|testTarget)\(\s*name:\s*\"([^\"]+)\"(.*?)\n        \)", manifest, re.S):
    kind, name, body = match.groups()
    path = re.search(r"path:\s*\"([^\"]+)\"", body)
    listed = set()
    start = body.find("dependencies:")
    if start >= 0:
        # The bracketed list after `dependencies:`, brackets matched.
        opening = body.index("[", start)
        depth, end = 0, opening
        for end in range(opening, len(body)):
            depth += {"[": 1, "]": -1}.get(body[end], 0)
            if depth == 0:
                break
        # Every quoted name in it: the targets, and the products' and packages' names, which are never this package's.
        listed = set(re.findall(r"(?<![:\w])\"([A-Za-z_][A-Za-z0-9_-]*)\"", body[opening:end]))
    directory = path.group(1) if path else ("Tests/" if kind == "testTarget" else "Sources/") + name
    targets.append((name, directory, listed))

# The toolchain's modules, which no package provides.
toolchain = {
    "Foundation", "FoundationEssentials", "FoundationNetworking", "Glibc", "Musl", "Darwin", "Dispatch",
    "Synchronization", "Testing", "XCTest", "_Concurrency",
}
local = {name for name, _, _ in targets}
problems = []
for name, directory, listed in targets:
    imported = set()
    for source in glob.glob(directory + "/**/*.swift", recursive=True):
        for line in open(source, encoding="utf-8"):
            found = re.match(r"\s*(?:@\w+(?:\([^)]*\))?\s+)*import\s+(?:(?:struct|class|enum|func|protocol|typealias|var|let)\s+)?(\w+)", line)
            if found:
                imported.add(found.group(1))
    for module in sorted(imported - toolchain - listed - {name}):
        where = "this package's target" if module in local else "a dependency's product"
        problems.append(f"{name} imports {module} ({where}) but does not list it in its dependencies")

if not targets:
    print("check-target-imports: no targets found in Package.swift", file=sys.stderr)
    sys.exit(2)
for problem in problems:
    print(f"check-target-imports: {problem}", file=sys.stderr)
if problems:
    sys.exit(1)
print(f"check-target-imports: {len(targets)} targets list every module they import, of this package or of a dependency")
