"""`kl-compat run --junit FILE`: a results file as JUnit XML, which CI systems show as tests.

    <testsuites name="kl-compat" tests= failures= skipped= errors="0">
      <testsuite name="ADAPTER LABEL" tests= failures= skipped= errors="0">
        <testcase classname="kl_compat.ADAPTER.SURFACE" name="CASE ID">
          <failure type="KIND" message="...">every new difference, one a line</failure>   a new difference
          <skipped message="unsupported: ..."/>         unsupported or unavailable, and no new difference
          <system-out>known: ...</system-out>            differences the known-differences file explains

One testcase per record. A record fails when it shows a difference the known-differences file does not
explain (the records that make `kl-compat run` exit 1); it is skipped when the framework does not support
the call (unsupported) or did not run (unavailable); every other record passes, a known difference
included (its explanation is in system-out).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from .npzio import atomic_write_bytes
from .record import UNAVAILABLE, UNSUPPORTED, Record

SKIPPED = (UNSUPPORTED, UNAVAILABLE)


def testcase(record: Record, reasons: dict[str, str] | None = None) -> tuple[ET.Element, str]:
    """The <testcase> of one record, and its outcome: "failure", "skipped" or "passed". `reasons` maps a
    known-differences entry id to its reason (the results file's end line holds them)."""
    case = ET.Element("testcase", classname=f"kl_compat.{record.adapter}.{record.surface}", name=record.case)
    new = [d for d in record.differences if d.known is None]
    known = [d for d in record.differences if d.known is not None]
    if new:
        failure = ET.SubElement(case, "failure", type=new[0].kind, message=new[0].message)
        failure.text = "\n".join(f"{d.kind}: {d.message}" for d in new)
        outcome = "failure"
    elif record.status in SKIPPED:
        o = record.observed
        why = (o.unsupported or o.detail or o.error) if o is not None else None
        ET.SubElement(case, "skipped", message=f"{record.status}" + (f": {why}" if why else ""))
        outcome = "skipped"
    else:
        outcome = "passed"
    if known:
        out = ET.SubElement(case, "system-out")
        out.text = "\n".join(f"known: {d.kind}: {d.message} ({(reasons or {}).get(d.known or '', d.known)})"
                              for d in known)
    return case, outcome


def document(res) -> ET.Element:
    """<testsuites> for a results.Results: one <testsuite> per adapter label, in the file's order."""
    suites: dict[str, ET.Element] = {}
    counts: dict[str, dict[str, int]] = {}
    for a in res.adapters:
        suites.setdefault(a.adapter, ET.Element("testsuite", name=a.adapter))
    for record in res.records:
        label = record.adapter
        suite = suites.setdefault(label, ET.Element("testsuite", name=label))
        case, outcome = testcase(record, res.end.known if res.end is not None else None)
        suite.append(case)
        c = counts.setdefault(label, {"tests": 0, "failure": 0, "skipped": 0})
        c["tests"] += 1
        if outcome != "passed":
            c[outcome] += 1
    root = ET.Element("testsuites", name="kl-compat")
    total = {"tests": 0, "failure": 0, "skipped": 0}
    for label, suite in suites.items():
        c = counts.get(label, {"tests": 0, "failure": 0, "skipped": 0})
        suite.set("tests", str(c["tests"]))
        suite.set("failures", str(c["failure"]))
        suite.set("skipped", str(c["skipped"]))
        suite.set("errors", "0")
        root.append(suite)
        for k in total:
            total[k] += c[k]
    root.set("tests", str(total["tests"]))
    root.set("failures", str(total["failure"]))
    root.set("skipped", str(total["skipped"]))
    root.set("errors", "0")
    return root


def write(res, path: Path) -> Path:
    """Write the JUnit XML of a results.Results to `path`, atomically."""
    root = document(res)
    ET.indent(root)
    atomic_write_bytes(Path(path), ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n")
    return Path(path)
