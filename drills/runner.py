"""Run fault drills: inject a fault, watch Alertmanager, Prometheus and the mail sink, repair, judge.

Python standard library only, so `./run.sh drill` runs on an administrator's Docker host with the
system's `python3` (3.9 or newer) and nothing installed. The same code drives the native twin in the
tests (tests/drills/twin_backend.py): only the `Backend`, which injects and repairs faults, differs.

    catalogue = load_catalogue(CATALOGUE)
    stack = Stack(prometheus="http://localhost:9090", alertmanager="http://localhost:9093",
                  mailpit="http://localhost:8025", page="http://localhost:8080")
    reports = run_drills(catalogue.scenarios, backend, stack)     # waves of non-conflicting scenarios
    print(table(reports))

A scenario (drills/catalogue.json) passes when, measured from the fault's injection: every `fire`
alert is active in Alertmanager (or firing in Prometheus, `seen_in: prometheus`) within its
`within_s`; each `mail` arrives for the team's recipients once its alert fired, within the
Alertmanager's group_wait and a margin; no `silent` alert is ever mailed or active without being
inhibited or silenced; each `page` request answers as stated; and after the repair every fired alert
resolves and a RESOLVED mail follows each mail within `resolve_within_s` plus the group_interval.
Times are read from Alertmanager's own configuration (/api/v2/status), so a stack with other
ALERT_GROUP_WAIT/INTERVAL settings is judged by its own.
"""

from __future__ import annotations

import base64
import http.cookiejar
import json
import re
import ssl
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

from drills.mailpit import Inbox, Mail

CATALOGUE = Path(__file__).resolve().parent / "catalogue.json"
ACTIONS = ("stop", "kill", "kill-one", "pause", "sql", "setting", "failed-sign-ins")
# Faults the runner makes itself, as any client of the page could, whatever the Backend: no repair
# (failed sign-ins are forgotten when their window ends).
RUNNER_ACTIONS = ("failed-sign-ins",)
POLL_S = 2.0
# Beyond the configured group_wait / group_interval: an evaluation (30 s), sending, a busy host.
MAIL_MARGIN_S = 90.0
# Between rounds, at most this long for every rule group to evaluate once more (the longest group
# interval, 1m, plus a scrape interval and a busy host's delay).
SETTLE_TIMEOUT_S = 150.0
# Every drill needs these to observe anything: an `exclusive` scenario, which breaks one of them,
# runs alone.
OBSERVERS = ("prometheus", "alertmanager", "mailpit")


class CatalogueError(ValueError):
    """The catalogue file is not what drills/README.md describes; the message says where."""


# -- the catalogue -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    """One drill, as drills/catalogue.json declares it (see drills/README.md for every key)."""

    name: str
    proves: str
    fault: Dict[str, Any]
    disturbs: List[str]
    fire: List[Dict[str, Any]]
    silent: List[str]
    mail: List[Dict[str, Any]]
    resolve_within_s: float
    page: List[Dict[str, Any]] = field(default_factory=list)
    load: Optional[Dict[str, Any]] = None
    exclusive: bool = False
    keeps_silences: bool = False

    def conflicts_with(self, other: "Scenario") -> bool:
        """Whether the two may not run at the same time: one is exclusive, or they disturb a common part."""
        return self.exclusive or other.exclusive or bool(set(self.disturbs) & set(other.disturbs))

    @property
    def outlasts(self) -> bool:
        """Whether an alert it fires stays firing after the drill (`outlasts_drill`)."""
        return any(f.get("outlasts_drill") for f in self.fire)

    @property
    def expected_s(self) -> float:
        """A rough duration, for planning: the slowest alert, then its resolution."""
        return max([f["within_s"] for f in self.fire] or [0]) + self.resolve_within_s


@dataclass(frozen=True)
class Catalogue:
    scenarios: List[Scenario]
    not_drilled: List[Dict[str, str]]
    elsewhere: List[Dict[str, str]]

    def named(self, names: List[str]) -> List[Scenario]:
        """The scenarios of these names (`all`: every one), in catalogue order; KeyError names an unknown one, or
        says how a drill run by other means (`elsewhere`) is run."""
        if names in ([], ["all"]):
            return list(self.scenarios)
        known = {s.name: s for s in self.scenarios}
        for entry in self.elsewhere:
            if entry["name"] in names:
                raise KeyError(f"{entry['name']} is not run by ./run.sh drill: {entry['proved_by']}")
        unknown = [n for n in names if n not in known]
        if unknown:
            raise KeyError(f"no such drill: {', '.join(unknown)} (./run.sh drill --list shows them)")
        return [s for s in self.scenarios if s.name in names]


_REQUIRED = {"name": str, "proves": str, "fault": dict, "disturbs": list, "fire": list, "silent": list,
             "mail": list, "resolve_within_s": (int, float)}
_OPTIONAL = {"page": list, "load": dict, "exclusive": bool, "keeps_silences": bool}


def load_catalogue(path: Path = CATALOGUE) -> Catalogue:
    """Read and check the catalogue (keys and types; tests/drills validates it fully with pydantic).

    Raises CatalogueError naming the scenario and key at fault.
    """
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as error:
        raise CatalogueError(f"{path}: {error}") from error
    scenarios = []
    for index, raw in enumerate(data.get("scenarios", [])):
        where = f"{path}: scenario {raw.get('name', index)!r}"
        for key, kind in _REQUIRED.items():
            if not isinstance(raw.get(key), kind):
                raise CatalogueError(f"{where}: `{key}` is missing or not a {getattr(kind, '__name__', 'number')}")
        unknown = set(raw) - set(_REQUIRED) - set(_OPTIONAL)
        if unknown:
            raise CatalogueError(f"{where}: unknown keys {sorted(unknown)}")
        if raw["fault"].get("action") not in ACTIONS:
            raise CatalogueError(f"{where}: fault action must be one of {', '.join(ACTIONS)}")
        if raw["fault"]["action"] == "failed-sign-ins" and not (
                isinstance(raw["fault"].get("username"), str) and isinstance(raw["fault"].get("count"), int)):
            raise CatalogueError(f"{where}: a failed-sign-ins fault needs `username` and `count`")
        for expectation in raw["fire"]:
            if not isinstance(expectation.get("alert"), str) or not isinstance(expectation.get("within_s"), (int, float)):
                raise CatalogueError(f"{where}: each `fire` needs `alert` and `within_s`")
        scenarios.append(Scenario(**raw))
    names = [s.name for s in scenarios]
    if len(set(names)) != len(names):
        raise CatalogueError(f"{path}: scenario names repeat")
    return Catalogue(scenarios, data.get("not_drilled", []), data.get("elsewhere", []))


# -- what drives the faults ----------------------------------------------------------------------


class Backend:
    """Injects a fault into the stack and repairs it. Subclasses: DockerBackend here, the twin's in tests.

    `inject(fault)` applies a scenario's `fault`; `repair(fault)` undoes it and may be called again
    (restoring twice must be harmless); `unhealthy()` lists what is not healthy before a drill.
    """

    def unhealthy(self) -> List[str]:
        raise NotImplementedError

    def inject(self, fault: Dict[str, Any]) -> None:
        raise NotImplementedError

    def repair(self, fault: Dict[str, Any]) -> None:
        raise NotImplementedError


# -- talking to the stack ------------------------------------------------------------------------


def _get_json(url: str, timeout: float = 10, headers: Optional[Dict[str, str]] = None) -> Any:
    with urllib.request.urlopen(urllib.request.Request(url, headers={"Accept": "application/json", **(headers or {})}),
                                timeout=timeout) as response:
        return json.loads(response.read())


def _send_json(url: str, body: Any, method: str = "POST", timeout: float = 10,
               headers: Optional[Dict[str, str]] = None) -> Any:
    request = urllib.request.Request(url, data=json.dumps(body).encode() if body is not None else None,
                                     method=method, headers={"Content-Type": "application/json", **(headers or {})})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        text = response.read()
    return json.loads(text) if text.strip() else None


def _unix_s(timestamp: str) -> float:
    """An RFC 3339 UTC time as Prometheus writes it (`2026-11-29T10:50:12.123456789Z`) in Unix seconds; 0 if
    it is not one (a group never evaluated says `0001-01-01T00:00:00Z`)."""
    match = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?Z$", timestamp)
    if not match:
        return 0.0
    whole = datetime.strptime(match.group(1), "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc)
    return max(0.0, whole.timestamp() + float(match.group(2) or 0))


def basic_auth(username: str, password: str) -> Dict[str, str]:
    """The Authorization header of HTTP basic auth (RFC 7617, UTF-8)."""
    return {"Authorization": "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()}


def duration_s(text: str) -> float:
    """A Prometheus/Alertmanager duration (`30s`, `5m`, `1h30m`, `250ms`) in seconds."""
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)", text)
    if not parts:
        raise ValueError(f"not a duration: {text!r}")
    return sum(float(n) * units[u] for n, u in parts)


@dataclass
class Stack:
    """Where the stack's APIs are: Prometheus, Alertmanager, the mailpit API and the operator page.

    `ui_auth` (user, password): the monitoring UIs' basic auth (.env's MONITORING_UI_USERNAME and
    MONITORING_UI_PASSWORD), which Prometheus, Alertmanager and mailpit ask for when published beyond
    loopback; sent to all three (a server without auth ignores it). `operator` (user, password): the officer account
    the page's API requests sign in as (every business route needs a session; .env's load-test account
    under ./run.sh). `page_cafile`: the certificate to trust when the page is served over HTTPS (the
    self-signed pair ./run.sh creates).
    """

    prometheus: str
    alertmanager: str
    mailpit: str
    page: str
    ui_auth: Optional[Tuple[str, str]] = None
    operator: Optional[Tuple[str, str]] = None
    page_cafile: Optional[str] = None

    def __post_init__(self) -> None:
        self.monitoring_headers = basic_auth(*self.ui_auth) if self.ui_auth else {}
        self.inbox = Inbox(self.mailpit, headers=self.monitoring_headers)
        self._routing: Optional[Dict[str, Any]] = None
        self._scrape_interval_s: Optional[float] = None
        self._session_lock = threading.Lock()
        self._cookies = http.cookiejar.CookieJar()
        context = ssl.create_default_context(cafile=self.page_cafile) if self.page_cafile else None
        self._page_opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self._cookies),
                                                        urllib.request.HTTPSHandler(context=context))

    def _get(self, url: str) -> Any:
        return _get_json(url, headers=self.monitoring_headers)

    def alertmanager_alerts(self) -> List[Dict[str, Any]]:
        """Alertmanager's alerts (API v2): active, inhibited and silenced; [] when it does not answer."""
        try:
            return list(self._get(self.alertmanager.rstrip("/") + "/api/v2/alerts"))
        except (OSError, ValueError):
            return []

    def prometheus_alerts(self) -> List[Dict[str, Any]]:
        """Prometheus's pending and firing alerts (/api/v1/alerts); [] when it does not answer."""
        try:
            return list(self._get(self.prometheus.rstrip("/") + "/api/v1/alerts")["data"]["alerts"])
        except (OSError, ValueError, KeyError):
            return []

    def rules_settled(self, since: float) -> bool:
        """Whether every rule group has been evaluated on what was scraped after `since` (Unix seconds):
        each group's `lastEvaluation` (/api/v1/rules) is later than `since` plus the global scrape interval
        (/api/v1/status/config). Until then an alert caused by an earlier drill may not even be pending yet.
        True when Prometheus does not answer: nothing can be waited for."""
        try:
            if self._scrape_interval_s is None:  # read once: it changes only with a new configuration
                config = self._get(self.prometheus.rstrip("/") + "/api/v1/status/config")["data"]["yaml"]
                interval = re.search(r"scrape_interval:\s*'?([0-9a-z.]+)", config)
                self._scrape_interval_s = duration_s(interval.group(1)) if interval else 60.0
            groups = self._get(self.prometheus.rstrip("/") + "/api/v1/rules")["data"]["groups"]
        except (OSError, ValueError, KeyError):
            return True
        after = since + self._scrape_interval_s
        return all(_unix_s(group.get("lastEvaluation", "")) > after for group in groups)

    def routing(self) -> Dict[str, Any]:
        """From Alertmanager's running configuration (/api/v2/status, re-serialised YAML): the longest
        group_wait and group_interval of any route (seconds; only deadlines are drawn from them, so the
        heartbeat route's longer interval merely adds patience), and each receiver's mail recipients."""
        if self._routing is None:
            original = self._get(self.alertmanager.rstrip("/") + "/api/v2/status")["config"]["original"]
            waits = [duration_s(v) for v in re.findall(r"group_wait:\s*'?([0-9a-z.]+)", original)]
            intervals = [duration_s(v) for v in re.findall(r"group_interval:\s*'?([0-9a-z.]+)", original)]
            recipients = {}
            receivers = original.split("receivers:", 1)[-1]
            for block in re.split(r"\n\s*- name: ", "\n" + receivers)[1:]:
                name = block.split("\n", 1)[0].strip().strip("'\"")
                to = re.search(r"\bto:\s*'?([^'\n]+)'?", block)
                if to:
                    recipients[name] = {a.strip().lower() for a in re.split(r"[,;]", to.group(1)) if a.strip()}
            self._routing = {"group_wait_s": max(waits or [30.0]), "group_interval_s": max(intervals or [300.0]),
                             "recipients": recipients}
        return self._routing

    def silence(self, alertname: str, comment: str) -> str:
        """Create an hour's silence of one alertname (API v2); its id."""
        now = datetime.now(timezone.utc)
        body = {"matchers": [{"name": "alertname", "value": alertname, "isRegex": False, "isEqual": True}],
                "startsAt": now.isoformat(), "endsAt": (now + timedelta(hours=1)).isoformat(),
                "createdBy": "promethoide drill", "comment": comment}
        return str(_send_json(self.alertmanager.rstrip("/") + "/api/v2/silences", body,
                              headers=self.monitoring_headers)["silenceID"])

    def silence_state(self, silence_id: str) -> str:
        try:
            return str(self._get(f"{self.alertmanager.rstrip('/')}/api/v2/silence/{silence_id}")["status"]["state"])
        except (OSError, ValueError, KeyError):
            return "missing"

    def expire_silence(self, silence_id: str) -> None:
        try:
            _send_json(f"{self.alertmanager.rstrip('/')}/api/v2/silence/{silence_id}", None, method="DELETE",
                       headers=self.monitoring_headers)
        except OSError:
            pass

    def _page_request(self, path: str, body: Any = None, timeout: float = 35) -> tuple:
        """A request to the operator page's `path` (a POST of JSON when `body` is given), with the
        session cookie if any: (status, body's `reason` or None); status 0 when nothing answers."""
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.page.rstrip("/") + path, data=data,
                                         headers={"Content-Type": "application/json"} if data else {})
        try:
            with self._page_opener.open(request, timeout=timeout) as response:
                status, text = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, text = error.code, error.read()
        except OSError:
            return 0, None
        try:
            return status, json.loads(text).get("reason")
        except (ValueError, AttributeError):
            return status, None

    def sign_in(self) -> None:
        """Open a session as `operator` for the page's API requests, unless one is open (a session
        lives for a shift: the drills' requests keep it from idling out). Raises RuntimeError when the
        sign-in is refused or there is no account to sign in as."""
        with self._session_lock:
            if any(cookie.name == "promethoide_session" for cookie in self._cookies):
                return
            if self.operator is None:
                raise RuntimeError("no operator account to sign in as (.env's LOAD_TEST_USERNAME/LOAD_TEST_PASSWORD)")
            username, password = self.operator
            status, reason = self._page_request("/api/auth/sign-in", {"username": username, "password": password})
            if status != 200:
                raise RuntimeError(f"the operator page refused to sign {username} in: {status} {reason}")

    def page_answer(self, path: str) -> tuple:
        """GET the operator page's `path`, signed in: (status, body's `reason` or None); status 0 when
        nothing answers. A session the API no longer knows is opened again once."""
        status, reason = self._page_request(path)
        if status == 401 and reason in ("not_signed_in", "session_expired") and self.operator is not None:
            self._cookies.clear()
            try:
                self.sign_in()
            except RuntimeError:
                return status, reason
            status, reason = self._page_request(path)
        return status, reason

    def fail_sign_ins(self, username: str, count: int) -> List[int]:
        """Try to sign in as `username` with a wrong password `count` times (a drill's fault); the statuses."""
        return [self._page_request("/api/auth/sign-in", {"username": username, "password": "not the password"},
                                   timeout=60)[0] for _ in range(count)]

    def unreachable(self, scenarios: List[Scenario]) -> List[str]:
        """The observers the drills need that do not answer."""
        wanted = {"alertmanager": self.alertmanager.rstrip("/") + "/-/ready",
                  "mailpit": self.mailpit.rstrip("/") + "/api/v1/messages?limit=1"}
        if any(f.get("seen_in") == "prometheus" for s in scenarios for f in s.fire):
            wanted["prometheus"] = self.prometheus.rstrip("/") + "/-/ready"
        down = []
        for name, url in wanted.items():
            try:
                urllib.request.urlopen(urllib.request.Request(url, headers=self.monitoring_headers), timeout=10).read()
            except OSError as error:
                down.append(f"{name} ({url}: {error})")
        return down


# -- one drill -----------------------------------------------------------------------------------


@dataclass
class Report:
    """What one drill observed: seconds after the fault (fired, mailed), after the repair (resolved)."""

    scenario: str
    fired_after_s: Optional[float] = None
    mailed_after_s: Optional[float] = None
    resolved_after_s: Optional[float] = None
    failures: List[str] = field(default_factory=list)
    interrupted: bool = False

    @property
    def verdict(self) -> str:
        if self.interrupted:
            return "INTERRUPTED"
        return "FAIL" if self.failures else "PASS"

    def to_json(self) -> Dict[str, Any]:
        return {"scenario": self.scenario, "fired_after_s": self.fired_after_s, "mailed_after_s": self.mailed_after_s,
                "resolved_after_s": self.resolved_after_s, "verdict": self.verdict, "failures": self.failures}


def _matches(labels: Dict[str, str], alert: str, wanted: Optional[Dict[str, str]] = None) -> bool:
    return labels.get("alertname") == alert and all(labels.get(k) == v for k, v in (wanted or {}).items())


class _Load:
    """Operator load through Apache during a fault: `workers` threads GETting the paths in turn."""

    def __init__(self, stack: Stack, spec: Optional[Dict[str, Any]]) -> None:
        self.stack, self.spec, self.stop = stack, spec, threading.Event()
        self.threads: List[threading.Thread] = []

    def __enter__(self) -> "_Load":
        if self.spec:
            for _ in range(int(self.spec.get("workers", 2))):
                thread = threading.Thread(target=self._work, daemon=True)
                thread.start()
                self.threads.append(thread)
        return self

    def _work(self) -> None:
        while not self.stop.is_set():
            for path in self.spec["paths"]:  # type: ignore[index]
                self.stack.page_answer(path)
                self.stop.wait(0.2)

    def __exit__(self, *_: object) -> None:
        self.stop.set()


class Drill:
    """One scenario run against the stack; `run()` returns its Report and always repairs the fault."""

    def __init__(self, scenario: Scenario, backend: Backend, stack: Stack, stop: threading.Event,
                 log: Callable[[str], None]) -> None:
        self.s, self.backend, self.stack, self.stop, self.log = scenario, backend, stack, stop, log
        self.report = Report(scenario.name)
        self.seen_mails: set = set()
        self.before: set = set()  # alerts already active before the fault: not this drill's doing
        self.fired: Dict[int, float] = {}  # index in `fire` -> seconds after the fault
        self.mailed: Dict[int, float] = {}  # index in `mail` -> seconds after the fault

    def _fail(self, message: str) -> None:
        if message not in self.report.failures:
            self.report.failures.append(message)
            self.log(f"{self.s.name}: {message}")

    def _new_mails(self) -> List[Mail]:
        try:
            return [m for m in self.stack.inbox.messages() if m.id not in self.seen_mails]
        except OSError:
            return []

    def _titled(self, mails: List[Mail], subject: str, status: str) -> List[Mail]:
        return [m for m in mails if subject in m.subject and status in m.subject.upper()]

    @staticmethod
    def _key(labels: Dict[str, str]) -> tuple:
        return tuple(sorted(labels.items()))

    def _check_silent(self, am_alerts: List[Dict[str, Any]], mails: List[Mail]) -> None:
        for alert in am_alerts:
            if self._key(alert["labels"]) in self.before:
                continue
            name = alert["labels"].get("alertname")
            status = alert.get("status", {})
            if name in self.s.silent and status.get("state") == "active":
                self._fail(f"{name} fired without being inhibited ({alert['labels']})")
        already = {dict(key).get("alertname") for key in self.before}
        for name in set(self.s.silent) - already:
            # The body lists each alert's labels, "Labels: alertname=NAME, ..." (alertmanager/templates).
            if any("FIRING" in m.subject.upper() and re.search(rf"alertname={name}\b", m.body) for m in mails):
                self._fail(f"{name} was mailed although it must stay silent")

    def _fired(self, expectation: Dict[str, Any], am_alerts: List[Dict[str, Any]],
               prom_alerts: List[Dict[str, Any]]) -> bool:
        if expectation.get("seen_in") == "prometheus":
            return any(_matches(a["labels"], expectation["alert"], expectation.get("labels")) and a.get("state") == "firing"
                       and self._key(a["labels"]) not in self.before for a in prom_alerts)
        return any(_matches(a["labels"], expectation["alert"], expectation.get("labels"))
                   and a.get("status", {}).get("state") in ("active", "suppressed")
                   and self._key(a["labels"]) not in self.before for a in am_alerts)

    def run(self) -> Report:
        s, stack = self.s, self.stack
        try:
            routing = stack.routing() if s.mail or s.silent else {"group_wait_s": 30.0, "group_interval_s": 300.0, "recipients": {}}
        except (OSError, ValueError, KeyError) as error:
            self._fail(f"cannot read Alertmanager's configuration: {error}")
            return self.report
        self.seen_mails = {m.id for m in stack.inbox.messages()}
        # Pending ones too: an earlier drill's burn rate can still be on its way to firing (seen: the
        # operator flow's, left by smoke-failing, fired during postgres-stopped, before the inhibiting cause).
        self.before = {self._key(a["labels"]) for a in stack.alertmanager_alerts()}
        self.before |= {self._key(a["labels"]) for a in stack.prometheus_alerts() if a.get("state") in ("pending", "firing")}
        silence_id = stack.silence("PromethoideDrillNothingReal", f"drill {s.name}") if s.keeps_silences else None
        start = time.monotonic()
        self.log(f"{s.name}: injecting {s.fault['action']} {s.fault['service']}")
        try:
            if s.page or s.load:
                stack.sign_in()  # while the stack is healthy: the fault may take the database away
            with _Load(stack, s.load):
                self._inject(s.fault)
                self._watch_fault(start, routing)
                for check in s.page:
                    self._check_page(check)
        except Exception as error:  # noqa: BLE001 - any failure to inject is this drill's failure, reported
            self._fail(f"the fault could not be injected: {error}")
        finally:
            self.log(f"{s.name}: repairing")
            try:
                if s.fault["action"] not in RUNNER_ACTIONS:
                    self.backend.repair(s.fault)
            except Exception as error:  # noqa: BLE001 - said loudly: the stack may still be broken
                self._fail(f"REPAIR FAILED, the stack is not restored: {error}")
        if self.report.failures and any(f.startswith(("the fault could not", "REPAIR")) for f in self.report.failures):
            return self.report
        if self.stop.is_set():
            self.report.interrupted = True
            return self.report
        repaired = time.monotonic()
        if silence_id is not None:
            self._wait(lambda: stack.silence_state(silence_id) == "active", 120)
            if stack.silence_state(silence_id) != "active":
                self._fail("the silence made before the fault did not survive it")
            stack.expire_silence(silence_id)
        self._watch_recovery(repaired, routing)
        return self.report

    def _inject(self, fault: Dict[str, Any]) -> None:
        if fault["action"] == "failed-sign-ins":
            # An unknown name: it bars no real operator (the API locks that name, and counts the
            # address far below its own threshold).
            statuses = self.stack.fail_sign_ins(fault["username"], int(fault["count"]))
            if not set(statuses) <= {401, 429}:
                raise RuntimeError(f"sign-ins answered {sorted(set(statuses))}, not only 401/429 refusals")
        else:
            self.backend.inject(fault)

    def _wait(self, condition: Callable[[], bool], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not self.stop.is_set():
            if condition():
                return True
            if time.monotonic() > deadline:
                return False
            self.stop.wait(POLL_S)
        return False

    def _watch_fault(self, start: float, routing: Dict[str, Any]) -> None:
        s = self.s
        fired, mailed = self.fired, self.mailed
        mail_deadline = max([f["within_s"] for f in s.fire] or [0]) + routing["group_wait_s"] + MAIL_MARGIN_S
        while not self.stop.is_set():
            now = time.monotonic() - start
            am_alerts, prom_alerts, mails = self.stack.alertmanager_alerts(), self.stack.prometheus_alerts(), self._new_mails()
            for i, expectation in enumerate(s.fire):
                if i not in fired and self._fired(expectation, am_alerts, prom_alerts):
                    fired[i] = now
            for i, expectation in enumerate(s.mail):
                if i not in mailed:
                    found = self._titled(mails, expectation["subject"], "FIRING")
                    if found:
                        mailed[i] = now
                        wanted = routing["recipients"].get(expectation["team"], set())
                        if not wanted or not wanted <= set(found[0].recipients):
                            self._fail(f"{expectation['subject']} mail went to {sorted(found[0].recipients)},"
                                       f" not to team {expectation['team']} ({sorted(wanted)})")
            self._check_silent(am_alerts, mails)
            late_fire = [f for i, f in enumerate(s.fire) if i not in fired and now > f["within_s"]]
            if len(fired) == len(s.fire) and len(mailed) == len(s.mail):
                break
            if late_fire or now > mail_deadline:
                break
            self.stop.wait(POLL_S)
        if self.stop.is_set():
            return
        for i, expectation in enumerate(s.fire):
            if i not in fired:
                self._fail(f"{expectation['alert']} did not fire within {expectation['within_s']} s")
        for i, expectation in enumerate(s.mail):
            if i not in mailed:
                self._fail(f"no {expectation['subject']} mail to {expectation['team']} within {mail_deadline:.0f} s")
        if fired:
            self.report.fired_after_s = round(max(fired.values()))
        if mailed:
            self.report.mailed_after_s = round(max(mailed.values()))

    def _check_page(self, check: Dict[str, Any]) -> None:
        status, reason = self.stack.page_answer(check["path"])
        if status not in check["status"] or ("reason" in check and reason != check["reason"]):
            self._fail(f"{check['path']} answered {status} {reason or ''}, not {check['status']} {check.get('reason', '')}")

    def _watch_recovery(self, repaired: float, routing: Dict[str, Any]) -> None:
        s = self.s
        deadline = s.resolve_within_s + routing["group_interval_s"] * bool(s.mail)
        # Alerts that outlast the drill by design (a burn rate's 30-minute window) are not waited for.
        outlasting = {f["alert"] for f in s.fire if f.get("outlasts_drill")}
        awaited = [f for f in s.fire if not f.get("outlasts_drill")]
        resolved_alerts, resolved_mails = False, False
        while not self.stop.is_set():
            now = time.monotonic() - repaired
            am_alerts, prom_alerts, mails = self.stack.alertmanager_alerts(), self.stack.prometheus_alerts(), self._new_mails()
            resolved_alerts = not any(self._fired(f, am_alerts, prom_alerts) for f in awaited)
            # A RESOLVED mail follows each mail that came (one that never came is already a failure).
            resolved_mails = all(self._titled(mails, m["subject"], "RESOLVED") for i, m in enumerate(s.mail)
                                 if i in self.mailed and m["alert"] not in outlasting)
            self._check_silent(am_alerts, mails)
            if resolved_alerts and resolved_mails:
                self.report.resolved_after_s = round(now)
                break
            if now > deadline:
                break
            self.stop.wait(POLL_S)
        if self.stop.is_set():
            return
        if not resolved_alerts:
            still = [f["alert"] for f in awaited if self._fired(f, self.stack.alertmanager_alerts(), self.stack.prometheus_alerts())]
            self._fail(f"{', '.join(still)} still firing {deadline:.0f} s after the repair")
        if not resolved_mails:
            self._fail(f"no RESOLVED mail within {deadline:.0f} s of the repair")
        for m in s.mail:
            if m.get("once"):
                count = len(self._titled(self._new_mails(), m["subject"], "FIRING"))
                if count != 1:
                    self._fail(f"{m['subject']} was mailed {count} times while firing, not once")


# -- many drills ---------------------------------------------------------------------------------


def waves(scenarios: List[Scenario]) -> List[List[Scenario]]:
    """Scenarios grouped so that no two of a group conflict, in catalogue order (first fit), those
    with an alert that outlasts the drill last."""
    groups: List[List[Scenario]] = []
    # Drills whose alerts outlast them come last, in rounds of their own: what they leave firing must
    # not meet a later drill.
    lasting_from = None
    for scenario in sorted(scenarios, key=lambda s: s.outlasts):
        if scenario.outlasts and lasting_from is None:
            lasting_from = len(groups)
        for group in groups[lasting_from or 0:] if scenario.outlasts else groups:
            if not any(scenario.conflicts_with(other) for other in group):
                group.append(scenario)
                break
        else:
            groups.append([scenario])
    return groups


def run_drills(scenarios: List[Scenario], backend: Backend, stack: Stack, *, stop: Optional[threading.Event] = None,
               log: Callable[[str], None] = print) -> List[Report]:
    """Run the scenarios, those that do not conflict at the same time; one Report each, in input order.

    Setting `stop` (Ctrl-C) ends every drill early: each repairs its fault before returning.
    """
    stop = stop or threading.Event()
    reports: Dict[str, Report] = {}
    for index, group in enumerate(waves(scenarios)):
        if stop.is_set():
            break
        if index:
            # What the last round disturbed must reach every rule before this round's drills look at the
            # alerts: each of them takes whatever is then pending or firing as not its own.
            since = time.time()
            deadline = time.monotonic() + SETTLE_TIMEOUT_S
            while not stack.rules_settled(since) and time.monotonic() < deadline and not stop.is_set():
                time.sleep(2)
        with ThreadPoolExecutor(max_workers=len(group)) as pool:
            futures = {s.name: pool.submit(Drill(s, backend, stack, stop, log).run) for s in group}
            for name, future in futures.items():
                reports[name] = future.result()
    return [reports.get(s.name) or Report(s.name, interrupted=True) for s in scenarios]


def table(reports: List[Report]) -> str:
    """The reports as a text table, then the failed expectations."""
    def seconds(value: Optional[float]) -> str:
        return "-" if value is None else f"{value:.0f} s"

    rows = [("scenario", "fired after", "mailed after", "resolved after", "verdict")]
    rows += [(r.scenario, seconds(r.fired_after_s), seconds(r.mailed_after_s), seconds(r.resolved_after_s), r.verdict)
             for r in reports]
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in rows]
    for report in reports:
        lines += [f"{report.scenario}: {failure}" for failure in report.failures]
    return "\n".join(lines)


def markdown(catalogue: Catalogue) -> str:
    """The catalogue as the README's table (`python3 -m drills --markdown`; tests hold the README to it)."""
    rows = ["| drill | fault | must fire (within) | must stay silent | mails | proves |", "|---|---|---|---|---|---|"]
    for s in catalogue.scenarios:
        fault = f"`{s.fault['action']}` {s.fault['service']}"
        if s.fault["action"] == "setting":
            fault += f" ({s.fault['setting']}={s.fault['value']})"
        if s.fault["action"] == "failed-sign-ins":
            fault += f" ({s.fault['count']} for {s.fault['username']})"
        fire = ", ".join(f"{f['alert']} ({f['within_s']:.0f} s{', in Prometheus' if f.get('seen_in') == 'prometheus' else ''}"
                         f"{', outlasts the drill' if f.get('outlasts_drill') else ''})" for f in s.fire)
        mails = ", ".join(f"{m['team']}: {m['subject']}" for m in s.mail) or "none"
        rows.append(f"| `{s.name}` | {fault} | {fire} | {', '.join(s.silent) or '-'} | {mails} | {s.proves} |")
    for entry in catalogue.elsewhere:
        rows.append(f"| `{entry['name']}` | see {entry['proved_by']} | | | | {entry['proves']} |")
    return "\n".join(rows)
