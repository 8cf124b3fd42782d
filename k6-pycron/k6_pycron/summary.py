"""Values read from a k6 ``--summary-export`` file (k6 docs: "Summary export", JSON format)."""

import json
from pathlib import Path


def _sum_checks(group: dict) -> tuple[int, int]:
    """Return (passes, fails) summed over a k6 summary group and its subgroups."""
    passes = fails = 0
    checks = group.get("checks") or {}
    for check in checks.values() if isinstance(checks, dict) else checks:
        passes += int(check.get("passes", 0))
        fails += int(check.get("fails", 0))
    groups = group.get("groups") or {}
    for sub in groups.values() if isinstance(groups, dict) else groups:
        p, f = _sum_checks(sub)
        passes, fails = passes + p, fails + f
    return passes, fails


def parse_summary(path: str | Path) -> dict[str, float] | None:
    """Return {value name: number} from a k6 summary file, or None if it is missing or garbled.

    Names: checks_passed, checks_failed, http_requests, http_req_failed_ratio,
    http_req_duration_p95_seconds (the last three only when k6 made requests).
    """
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        metrics = data["metrics"]
        if not isinstance(metrics, dict):
            return None
        passed, failed = _sum_checks(data.get("root_group") or {})
        result = {"checks_passed": float(passed), "checks_failed": float(failed)}
        if "http_reqs" in metrics:
            result["http_requests"] = float(metrics["http_reqs"]["count"])
        if "http_req_failed" in metrics:
            # Rate metric: `value` is the failed fraction (its `passes` count FAILED requests).
            result["http_req_failed_ratio"] = float(metrics["http_req_failed"]["value"])
        if "http_req_duration" in metrics:
            result["http_req_duration_p95_seconds"] = float(metrics["http_req_duration"]["p(95)"]) / 1000.0
        return result
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
