// Smoke test of the operator flow through Apache: one VU, one iteration.
// Run by scheduler.py as `k6 run --summary-export=FILE web_workflow_test.js`.
// BASE_URL (env) points at Apache; default is the compose service name.
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

// An exception aborts the iteration and skips the remaining checks, which would leave the
// checks rate at 1: this counter only reaches 1 when every step actually ran.
const completed = new Counter('workflow_completed');

export const options = {
  vus: 1,
  iterations: 1,
  thresholds: {
    checks: ['rate==1'],
    http_req_failed: ['rate==0'],
    http_req_duration: ['p(95)<1000'],
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

/** True when body is an error object shaped {detail: str, reason: str}. */
function isError(body) {
  return body !== null && typeof body.detail === 'string' && typeof body.reason === 'string';
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
    check(listed, {
      'dni listed: status 200': (r) => r.status === 200,
      'dni listed: json names the document': (r) => jsonOf(r) !== null && r.body.includes(LISTED_DNI),
    });

    const unlisted = http.get(`${BASE_URL}/api/dni/${UNLISTED_DNI}`, {
      responseCallback: http.expectedStatuses(404),
      tags: { name: 'GET /api/dni/{dni}' },
    });
    check(unlisted, {
      'dni not listed: status 404': (r) => r.status === 404,
      'dni not listed: error body': (r) => isError(jsonOf(r)),
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
      'flight known: has route and arrival': () => flight !== null
        && ['airline', 'origin', 'destination', 'scheduled_arrival'].every((k) => flight[k] !== undefined && flight[k] !== null),
    });

    const unknown = http.get(`${BASE_URL}/api/flights/${UNKNOWN_FLIGHT}`, {
      responseCallback: http.expectedStatuses(404),
      tags: { name: 'GET /api/flights/{flight_number}' },
    });
    check(unknown, {
      'flight unknown: status 404': (r) => r.status === 404,
      'flight unknown: error body': (r) => isError(jsonOf(r)),
    });
  });

  group('immigration dry run', () => {
    const accepted = immigration('SMOKE0001', 200);
    const body = jsonOf(accepted);
    check(accepted, {
      'immigration clean: status 200': (r) => r.status === 200,
      'immigration clean: accepted': () => body !== null && body.accepted === true,
    });

    const refused = immigration(LISTED_DNI_FOR_POST, 403);
    const error = jsonOf(refused);
    check(refused, {
      'immigration listed: status 403': (r) => r.status === 403,
      'immigration listed: interpol_hit': () => isError(error) && error.reason === 'interpol_hit',
    });
  });

  completed.add(1);
}
