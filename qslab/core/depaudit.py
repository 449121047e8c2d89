"""``make lint``'s dependency audit: pip-audit over the installed environment, never silently empty.

pip-audit asks a vulnerability service (PyPI's JSON API, or OSV) about every installed package. Without
network access it cannot, and it then reports each package as *skipped* and still exits 0 with "No
known vulnerabilities found". This wrapper reads pip-audit's JSON and says which of three things
happened:

- vulnerabilities found: listed, exit 1;
- nothing could be audited (service unreachable): a loud notice, exit 0, or exit 3 with
  ``AUDIT_STRICT=1`` (set it where the service is reachable, e.g. in CI with network);
- audited: the number of packages checked and any that were skipped, exit 0.

Run: ``python -m qslab.core.depaudit`` (the Makefile's ``audit`` target).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any


def summarise(report: dict[str, Any]) -> tuple[int, str]:
    """(exit status, message) for pip-audit's JSON report.

    >>> summarise({"dependencies": [{"name": "django", "version": "5.2", "skip_reason": "not found"}]})[0]
    0
    >>> vulnerable = {"name": "a", "version": "1", "vulns": [{"id": "PYSEC-1", "fix_versions": ["2"]}]}
    >>> summarise({"dependencies": [vulnerable]})
    (1, 'pip-audit: 1 known vulnerabilities in 1 audited packages:\\n  a 1: PYSEC-1 (fixed in 2)')
    """
    deps = report.get("dependencies", [])
    skipped = [d for d in deps if d.get("skip_reason")]
    audited = [d for d in deps if not d.get("skip_reason")]
    vulns = [(d, v) for d in audited for v in d.get("vulns", [])]
    if vulns:
        lines = [
            f"  {d['name']} {d['version']}: {v['id']} (fixed in {', '.join(v.get('fix_versions') or ['-'])})"
            for d, v in vulns
        ]
        return (
            1,
            f"pip-audit: {len(vulns)} known vulnerabilities in {len(audited)} audited packages:\n"
            + "\n".join(lines),
        )
    if deps and not audited:
        strict = os.environ.get("AUDIT_STRICT") == "1"
        reason = skipped[0].get("skip_reason", "")
        message = (
            "*** pip-audit: NOTHING WAS AUDITED. The vulnerability service (PyPI JSON API / OSV)\n"
            f"*** could not be reached, so all {len(skipped)} installed packages were skipped\n"
            f"*** (first reason: {reason}).\n"
            "*** This is not a clean audit. Run `make audit` where the service is reachable"
            + (" (AUDIT_STRICT=1: failing)." if strict else "; AUDIT_STRICT=1 makes this fail.")
        )
        return (3 if strict else 0), message
    extra = f"; {len(skipped)} skipped: " + ", ".join(d["name"] for d in skipped) if skipped else ""
    return 0, f"pip-audit: no known vulnerabilities in {len(audited)} audited packages{extra}"


def main() -> int:
    command = [
        sys.executable,
        "-m",
        "pip_audit",
        "--format",
        "json",
        "--progress-spinner",
        "off",
        "--skip-editable",
        "--timeout",
        os.environ.get("AUDIT_TIMEOUT", "5"),
    ]
    result = subprocess.run(command, capture_output=True, text=True)  # noqa: S603
    try:
        report = json.loads(result.stdout or "{}")
    except json.JSONDecodeError:
        print(result.stdout + result.stderr, file=sys.stderr)
        print("pip-audit gave no report (see above)", file=sys.stderr)
        return 2
    if result.returncode not in (0, 1):
        print(result.stderr, file=sys.stderr)
        return result.returncode
    status, message = summarise(report)
    print(message, file=sys.stderr if status else sys.stdout)
    return status


if __name__ == "__main__":
    sys.exit(main())
