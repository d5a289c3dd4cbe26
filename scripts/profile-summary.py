#!/usr/bin/env python3
"""Where the time goes in a profile written by `campus-bench --profile` (scripts/profile-hot-paths.sh).

    scripts/profile-summary.py [--top N] [--per OPERATIONS] PROFILE...

PROFILE is a callgrind file (SECTION.callgrind: instructions, user space only) or a perf file
(SECTION.perf.data: cpu-clock samples with call chains, kernel included). For each, prints

- the cost by purpose: each function's own cost goes to the group of the function (cryptography, X.509, ASN.1 and
  PEM, NIO, Swift concurrency, terminal lines, logging and metrics, SQLite, the kernel, CampusPKI's own code);
  the work of the Swift runtime, of allocation, of the standard library, of Foundation and of the C library is
  charged to the function that asked for it (its nearest caller in one of those groups), so that, for example,
  the strings built for a terminal line count as terminal lines and not as "the runtime". What no caller can be
  found for stays in its own group. The groups add up to the whole.
- the same cost charged to the nearest CampusPKI function (or, without one, the nearest library function): the
  largest of these say which CampusPKI code a cost comes from.

With --per N, costs are also given per operation (the section's handshakes, certificates or messages): in
instructions for callgrind, in microseconds of CPU for perf. Names are demangled with `swift demangle`.

callgrind's call graph is a graph of functions, not of stacks: a function's own cost is shared among its callers in
proportion to what each call cost, so costs charged through functions that are called for several purposes
(allocation, hashing) are estimates. perf's samples carry whole stacks and are charged exactly; an async
function's stack ends where its task was resumed.
"""
import argparse
import collections
import os
import re
import shutil
import subprocess
import sys

# (group, regular expression on the fully demangled "symbol [object]"), the first match wins.
OWNERS = [
    ("kernel", r"\[kernel"),
    ("SQLite", r"sqlite3|\bGRDB\.|libsqlite"),
    ("cryptography", r"CCryptoBoringSSL|BoringSSL|\bCrypto\.|_CryptoExtras\.|\bfiat_|\bbn_|\bsha256_|"
                     r"\bsha512_|\bsha1_|\bx25519|\bchacha|\bpoly1305|\becp_nistz|\baes_|\bgcm_|"
                     r"\brsaz_|\bRSA_|\bEC_|\bBN_|\bSHA256|\bHMAC|\bHKDF|_x86_64_|\bmd32_|\bCRYPTO_|\bfe_|\bge_|"
                     r"\bp256_|\bec_GFp|\bmont_|\bOPENSSL_|\bEVP_|\bECDSA_|mulx4x|sqrx8x|_postx4x|\b__bn_|\b__ecp_"),
    ("terminal lines, logging, metrics", r"\bLogging\.|ControlCharacters|\bTerminal\.|EscapingLogHandler|"
                                         r"\bMetrics\.|\bCoreMetrics\.|\bPrometheus|Observer\b|Observer\.|"
                                         r"MessageDisplay|StepReporter|hexString|\bCount\.of"),
    ("X.509 (swift-certificates)", r"\bX509\."),
    ("ASN.1, DER, PEM (swift-asn1)", r"\bSwiftASN1\."),
    ("NIO (event loops, channels, pipeline, buffers, timers)", r"\bNIO[A-Za-z]*\.|\b_NIO[A-Za-z]*\.|\bCNIO"),
    ("Swift concurrency and dispatch", r"swift_task|swift_job|swift_continuation|swift_asyncLet|"
                                       r"libswift_Concurrency|\b_Concurrency\.|libdispatch|\bdispatch_|"
                                       r"\bDispatch\.|AsyncAlgorithms"),
    ("CampusPKI's own code", r"\bCampus[A-Za-z]*\.|\bcampus_bench\.|\bcuhk\.|\bblackboard\."),
]
# Work done for a caller: charged to it.
CARRIERS = [
    ("Swift runtime, allocation, standard library (no caller found)", r"libswiftCore|swift_|\bSwift\.|\bmalloc|"
                                                                      r"\bfree\b|\bcfree|_int_malloc|_int_free|"
                                                                      r"\brealloc|\bcalloc|\bmem(cpy|move|set|cmp)|"
                                                                      r"__mem|\bswift::|^generic specialization|"
                                                                      r"^specialized|Synchronization\."),
    ("Foundation (no caller found)", r"\bFoundation\.|\bFoundationEssentials\.|\bFoundationInternationalization|"
                                     r"libFoundation|libicu"),
    ("C library (no caller found)", r"libc\.so|libc-|libpthread|ld-linux|libm\.so|libstdc\+\+|libgcc"),
]
OWNER_PATTERNS = [(name, re.compile(pattern)) for name, pattern in OWNERS]
CARRIER_PATTERNS = [(name, re.compile(pattern)) for name, pattern in CARRIERS]
OURS = re.compile(r"\bCampus[A-Za-z]*\.")
LIBRARY = re.compile(r"\b(X509|SwiftASN1|NIO[A-Za-z]*|GRDB|Crypto|_CryptoExtras|Logging|Metrics|Prometheus)\.|"
                     r"CCryptoBoringSSL_|sqlite3_|\[kernel")


def demangle(names, simplified):
    tool = shutil.which("swift-demangle") or shutil.which("swift")
    if not tool or not names:
        return list(names)
    command = ([tool] if tool.endswith("swift-demangle") else [tool, "demangle"]) + \
        (["--simplified"] if simplified else [])
    result = subprocess.run(command, input="\n".join(names), capture_output=True, text=True)
    output = result.stdout.split("\n") if result.returncode == 0 else []
    return output[:len(names)] if len(output) >= len(names) else list(names)


class Names:
    """Full (for grouping) and short (for reading) demangled names, made in one batch."""

    def __init__(self, names):
        names = sorted(set(names))
        self.full = dict(zip(names, demangle(names, False)))
        self.short = dict(zip(names, demangle(names, True)))

    def owner(self, name):
        return owner_of(self.full.get(name, name))

    def carrier(self, name):
        return carrier_of(self.full.get(name, name))

    def ours(self, name):
        return is_ours(self.full.get(name, name))


def callgrind(path):
    """Own costs, caller edges and the program total of a callgrind file."""
    plain = subprocess.run(["callgrind_annotate", "--threshold=100", path], capture_output=True, text=True,
                           check=True).stdout
    own, total = {}, None
    for line in plain.split("\n"):
        match = re.match(r"^\s*([\d,]+)\s+\(\s*[\d.]+%\)\s+(.*)$", line)
        if not match:
            continue
        cost = int(match.group(1).replace(",", ""))
        if match.group(2).startswith("PROGRAM TOTALS"):
            total = cost
        else:
            name = re.match(r"^\S*?:(\S+)", match.group(2))
            if name:
                own[name.group(1)] = own.get(name.group(1), 0) + cost
    tree = subprocess.run(["callgrind_annotate", "--tree=caller", "--inclusive=yes", "--threshold=100", path],
                          capture_output=True, text=True, check=True).stdout
    callers = {}
    for block in tree.split("\n\n"):
        edges, function = [], None
        for line in block.split("\n"):
            match = re.match(r"^\s*([\d,]+) \(\s*[\d.]+%\)\s+([<*])\s+\S*?:(\S+)", line)
            if not match:
                continue
            if match.group(2) == "*":
                function = match.group(3)
            else:
                edges.append((int(match.group(1).replace(",", "")), match.group(3)))
        if function:
            callers.setdefault(function, []).extend(edges)
    return own, callers, total or sum(own.values())


def charge_callgrind(own, callers, names, keeps):
    """Each function's own cost, charged to the functions `keeps` accepts, through the callers of the others."""
    shares = {}

    def share(function):
        if function in shares:
            return shares[function] or {}
        if keeps(function):
            shares[function] = {function: 1.0}
            return shares[function]
        shares[function] = None  # being computed: a cycle adds nothing
        edges = [(cost, caller) for cost, caller in callers.get(function, []) if cost > 0 and caller != function]
        total = sum(cost for cost, _ in edges)
        result = collections.Counter()
        for cost, caller in edges:
            for target, part in share(caller).items():
                result[target] += part * cost / total
        found = sum(result.values())
        result = {target: part / found for target, part in result.items()} if found else {None: 1.0}
        shares[function] = result
        return result

    charged = collections.Counter()
    for function, cost in own.items():
        for target, part in share(function).items():
            charged[(target, function) if target is None else target] += cost * part
    return charged


def perf(path):
    """Samples as stacks (leaf first) and nanoseconds per sample."""
    script = subprocess.run(["perf", "script", "-i", path, "-F", "ip,sym,dso"], capture_output=True, text=True).stdout
    stacks, stack = [], []
    for line in script.split("\n"):
        match = re.match(r"^\s+[0-9a-f]+\s+(.*?)\s+\(([^)]*)\)\s*$", line)
        if match:
            symbol, dso = match.group(1), os.path.basename(match.group(2))
            stack.append(f"{symbol} [kernel]" if "kernel.kallsyms" in dso else f"{symbol} [{dso}]")
        elif stack and not line.strip():
            stacks.append(stack)
            stack = []
    if stack:
        stacks.append(stack)
    report = subprocess.run(["perf", "report", "-i", path, "--stdio", "-g", "none", "--percent-limit", "90"],
                            capture_output=True, text=True).stdout
    match = re.search(r"Event count \(approx\.\): (\d+)", report)
    nanoseconds = int(match.group(1)) / len(stacks) if match and stacks else None
    return stacks, nanoseconds


def split_name(entry):
    match = re.match(r"^(.*?) \[([^\]]*)\](?: \[kernel\])?$", entry)
    return (match.group(1), match.group(2)) if match else (entry, "")


def shorten(text, width=100):
    text = re.sub(r"<[^<>]*(<[^<>]*(<[^<>]*>[^<>]*)*>[^<>]*)*>", "<…>", text)
    text = re.sub(r"\((?:[^()]|\((?:[^()]|\([^()]*\))*\))*\)", "(…)", text)
    return text if len(text) <= width else text[: width - 1] + "…"


def table(title, counter, total, per, scale, unit, limit=None):
    rows = sorted(counter.items(), key=lambda item: -item[1])
    if limit:
        rows = rows[:limit]
    print(title)
    print()
    header = f"| | share | {unit} per operation |" if per else "| | share |"
    print(header)
    print("|---|---:|---:|" if per else "|---|---:|")
    for name, cost in rows:
        extra = f" {cost * scale / per:,.1f} |" if per else ""
        print(f"| {name} | {100 * cost / total:.1f} % |{extra}")
    print()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("profiles", nargs="+")
    parser.add_argument("--top", type=int, default=30, help="functions to list")
    parser.add_argument("--per", type=float, default=None, help="operations in the section")
    arguments = parser.parse_args()
    for path in arguments.profiles:
        if path.endswith(".perf.data"):
            stacks, nanoseconds = perf(path)
            if not stacks:
                print(f"{path}: no samples", file=sys.stderr)
                continue
            entries = {entry for stack in stacks for entry in stack}
            names = Names([split_name(entry)[0] for entry in entries])
            label = lambda entry: names.short.get(split_name(entry)[0], entry) + f" [{split_name(entry)[1]}]"
            full = lambda entry: names.full.get(split_name(entry)[0], entry) + f" [{split_name(entry)[1]}]"
            groups, functions = collections.Counter(), collections.Counter()
            for stack in stacks:
                group = next((g for g in (owner_of(full(e)) for e in stack) if g), None)
                groups[group or carrier_of(full(stack[0]))] += 1
                mine = next((e for e in stack if is_ours(full(e))), None)
                library = next((e for e in stack if LIBRARY.search(full(e))), stack[0])
                functions[shorten(label(mine or library)) + ("" if mine else " (no CampusPKI caller)")] += 1
            total, unit = len(stacks), "samples"
            scale, per_unit = (nanoseconds / 1000, "µs of CPU") if nanoseconds else (1, "samples")
        else:
            own, callers, total = callgrind(path)
            names = Names(list(own) + [caller for edges in callers.values() for _, caller in edges])

            charged = charge_callgrind(own, callers, names, lambda f: names.owner(f) is not None)
            groups = collections.Counter()
            for key, cost in charged.items():
                if isinstance(key, tuple):
                    groups[names.carrier(key[1])] += cost
                else:
                    groups[names.owner(key)] += cost
            charged = charge_callgrind(own, callers, names, names.ours)
            functions = collections.Counter()
            for key, cost in charged.items():
                if isinstance(key, tuple):
                    functions[shorten(names.short.get(key[1], key[1])) + " (no CampusPKI caller)"] += cost
                else:
                    functions[shorten(names.short.get(key, key))] += cost
            total, unit, scale, per_unit = sum(own.values()), "instructions", 1, "instructions"
        per = arguments.per
        print(f"## {os.path.basename(path)}: {total:,.0f} {unit}" +
              (f", {total * scale / per:,.1f} {per_unit} per operation ({per:g} operations)" if per else ""))
        print()
        table("By purpose:", groups, total, per, scale, per_unit)
        table("By CampusPKI function (everything it calls included):", functions, total, per, scale, per_unit,
              arguments.top)


def is_generic_specialization(full):
    # A specialization of a standard-library generic inside CampusPKI's code is the standard library's work.
    return re.match(r"(generic specialization|specialized) <", full) is not None and \
        not re.search(r"> of (Campus|X509|SwiftASN1|NIO|GRDB|Crypto)", full)


def is_ours(full):
    return OURS.search(full) is not None and not is_generic_specialization(full)


def owner_of(full):
    for group, pattern in OWNER_PATTERNS:
        if pattern.search(full):
            if is_generic_specialization(full):
                return None
            return group
    return None


def carrier_of(full):
    for group, pattern in CARRIER_PATTERNS:
        if pattern.search(full):
            return group
    return "the rest (no caller found)"


if __name__ == "__main__":
    main()
