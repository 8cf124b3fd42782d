// Smoke test of the operator flow through Apache: one VU, one iteration.
// Run by scheduler.py as `k6 run --summary-export=FILE web_workflow_test.js`.
// BASE_URL (env) points at Apache; default is the compose service name.
// It signs in as SMOKE_TEST_USERNAME / SMOKE_TEST_PASSWORD (env; compose passes them from .env), k6's
// per-VU cookie jar carries the session cookie to every later request, and it signs out at the end.
// Every answer is judged by the API's contract, never by its status alone: a wrong base path gets
// Apache's HTML 404, which only the body tells apart from the API's 404 "not listed".
import http from 'k6/http';
import { check, group } from 'k6';
import { Counter } from 'k6/metrics';

const BASE_URL = (__ENV.BASE_URL || 'http://apache:80').replace(/\/+$/, '');
const LISTED_DNI = '87654321B';
const LISTED_DNI_FOR_POST = '12345678A';
const UNLISTED_DNI = '11111111Z';
const KNOWN_FLIGHT = 'AA123';
const UNKNOWN_FLIGHT = 'ZZ9999';
const JSON_HEADERS = { 'Content-Type': 'application/json', Accept: 'application/json' };
const USERNAME = __ENV.SMOKE_TEST_USERNAME || '';
const PASSWORD = __ENV.SMOKE_TEST_PASSWORD || '';
const SESSION_COOKIE = 'promethoide_session';

// An exception aborts the iteration and skips the remaining checks, which would leave the
// checks rate at 1: this counter only reaches 1 when every step actually ran.
const completed = new Counter('workflow_completed');

export const options = {
  vus: 1,
  iterations: 1,
  thresholds: {
    checks: ['rate==1'],
    http_req_failed: ['rate==0'],
    // No latency threshold: the smoke run judges correctness; its p95 is pushed (and graphed) and
    // latency objectives are the API's alert rules' job, so a busy host cannot fail a correct run.
    workflow_completed: ['count==1'],
  },
};

// Only 200 is a success by default; steps expecting 404/403 pass their own callback so an
// expected refusal is not counted in http_req_failed (and an unexpected 200 is).
http.setResponseCallback(http.expectedStatuses(200));

/** Parse a JSON body, or return null (never throw). */
function jsonOf(res) {
  try {
    return res.json();
  } catch (e) {
    return null;
  }
}

/** True when body is a JSON object (not null, not an array). */
function isObject(body) {
  return body !== null && typeof body === 'object' && !Array.isArray(body);
}

/** True when body is the API's error object {detail: str, reason: str} with this reason (ErrorOut). */
function isRefusal(body, reason) {
  return isObject(body) && typeof body.detail === 'string' && body.reason === reason;
}

/** True when body is a JSON object holding every one of these fields. */
function hasFields(body, fields) {
  return isObject(body) && fields.every((k) => body[k] !== undefined && body[k] !== null);
}

/** The session cookie's Set-Cookie text, from its name on, or '' (the sign-in sets one cookie; k6
 * gives one string per header name, an array if several). */
function sessionCookieHeader(res) {
  const raw = res.headers['Set-Cookie'];
  const all = (Array.isArray(raw) ? raw : [raw || '']).join('\n');
  const at = all.indexOf(`${SESSION_COOKIE}=`);
  return at < 0 ? '' : all.slice(at).split('\n')[0];
}

/** Whether a Set-Cookie text carries attribute `name` (case-insensitive, RFC 6265 §5.2). */
function hasAttribute(header, name) {
  return header.split(';').slice(1).some((part) => part.trim().toLowerCase() === name.toLowerCase());
}

/** A dry-run immigration request for the given document number. */
function immigration(dni, expected) {
  const payload = JSON.stringify({
    name: 'Smoke Test',
    dni: dni,
    lodging: 'Smoke Test Hotel',
    declared_money: '1500.00',
    flight_number: KNOWN_FLIGHT,
  });
  return http.post(`${BASE_URL}/api/immigration?dry_run=true`, payload, {
    headers: JSON_HEADERS,
    responseCallback: http.expectedStatuses(expected),
    tags: { name: 'POST /api/immigration' },
  });
}

export default function () {
  group('sign in', () => {
    // Without a session, a business route is refused with the contract's reason (a jar of its own:
    // no cookie).
    const anonymous = http.get(`${BASE_URL}/api/flights/${KNOWN_FLIGHT}`, {
      jar: new http.CookieJar(),
      responseCallback: http.expectedStatuses(401),
      tags: { name: 'GET /api/flights/{flight_number}' },
    });
    const refusal = jsonOf(anonymous);
    check(anonymous, {
      'no session: status 401': (r) => r.status === 401,
      'no session: reason not_signed_in': () => isRefusal(refusal, 'not_signed_in'),
    });

    const res = http.post(`${BASE_URL}/api/auth/sign-in`, JSON.stringify({ username: USERNAME, password: PASSWORD }), {
      headers: JSON_HEADERS,
      tags: { name: 'POST /api/auth/sign-in' },
    });
    const body = jsonOf(res);
    const cookie = sessionCookieHeader(res);
    const signedIn = check(res, {
      'sign in: status 200': (r) => r.status === 200,
      'sign in: names the account': () => isObject(body) && typeof body.username === 'string'
        && body.username.toLowerCase() === USERNAME.trim().toLowerCase(),
      'sign in: HttpOnly SameSite=Strict cookie': () => cookie !== ''
        && hasAttribute(cookie, 'HttpOnly') && /;\s*SameSite=Strict/i.test(cookie),
    });
    if (!signedIn) {
      // Every later step would only repeat "not signed in": stop (workflow_completed stays 0).
      throw new Error(`sign-in as '${USERNAME}' failed: HTTP ${res.status} ${body && body.reason}`);
    }
  });

  group('operator page', () => {
    const res = http.get(`${BASE_URL}/`);
    check(res, {
      'page: status 200': (r) => r.status === 200,
      'page: is html': (r) => typeof r.body === 'string' && /<html/i.test(r.body),
    });
  });

  group('dni lookup', () => {
    const listed = http.get(`${BASE_URL}/api/dni/${LISTED_DNI}`, {
      tags: { name: 'GET /api/dni/{dni}' },
    });
    const notice = jsonOf(listed);
    check(listed, {
      'dni listed: status 200': (r) => r.status === 200,
      'dni listed: notice names the document': () => hasFields(notice, ['dni', 'name'])
        && notice.dni === LISTED_DNI,
    });

    const unlisted = http.get(`${BASE_URL}/api/dni/${UNLISTED_DNI}`, {
      responseCallback: http.expectedStatuses(404),
      tags: { name: 'GET /api/dni/{dni}' },
    });
    check(unlisted, {
      'dni not listed: status 404': (r) => r.status === 404,
      'dni not listed: reason not_listed': (r) => isRefusal(jsonOf(r), 'not_listed'),
    });
  });

  group('flight lookup', () => {
    const known = http.get(`${BASE_URL}/api/flights/${KNOWN_FLIGHT}`, {
      tags: { name: 'GET /api/flights/{flight_number}' },
    });
    const flight = jsonOf(known);
    check(known, {
      'flight known: status 200': (r) => r.status === 200,
      'flight known: flight_number matches': () => flight !== null && flight.flight_number === KNOWN_FLIGHT,
      'flight known: has route and arrival': () => hasFields(flight, ['airline', 'origin', 'destination', 'scheduled_arrival']),
    });

    const unknown = http.get(`${BASE_URL}/api/flights/${UNKNOWN_FLIGHT}`, {
      responseCallback: http.expectedStatuses(404),
      tags: { name: 'GET /api/flights/{flight_number}' },
    });
    check(unknown, {
      'flight unknown: status 404': (r) => r.status === 404,
      'flight unknown: reason unknown_flight': (r) => isRefusal(jsonOf(r), 'unknown_flight'),
    });
  });

  group('immigration dry run', () => {
    const accepted = immigration('SMOKE0001', 200);
    const body = jsonOf(accepted);
    check(accepted, {
      'immigration clean: status 200': (r) => r.status === 200,
      'immigration clean: accepted': () => isObject(body) && body.accepted === true && body.dry_run === true,
    });

    const refused = immigration(LISTED_DNI_FOR_POST, 403);
    const error = jsonOf(refused);
    check(refused, {
      'immigration listed: status 403': (r) => r.status === 403,
      'immigration listed: reason interpol_hit': () => isRefusal(error, 'interpol_hit'),
    });
  });

  group('sign out', () => {
    const out = http.post(`${BASE_URL}/api/auth/sign-out`, null, {
      responseCallback: http.expectedStatuses(204),
      tags: { name: 'POST /api/auth/sign-out' },
    });
    const after = http.get(`${BASE_URL}/api/auth/me`, {
      responseCallback: http.expectedStatuses(401),
      tags: { name: 'GET /api/auth/me' },
    });
    check(out, {
      'sign out: status 204': (r) => r.status === 204,
      'sign out: session gone': () => after.status === 401 && isRefusal(jsonOf(after), 'not_signed_in'),
    });
  });

  completed.add(1);
}
