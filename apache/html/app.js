/*
 * Border control desk: the officer's flow.
 *   sign in -> document number -> Check Interpol -> (listed: STOP) -> flight number ->
 *   Check flight -> name, lodging, declared money -> Register -> entry id ->
 *   Next traveller.
 *
 * The API is reached through the same origin, behind Apache: relative URLs
 * "api/dni/{dni}", "api/flights/{flight}", "api/immigration" (POST).
 * No framework, no external resource, no inline script or style (the CSP
 * allows 'self' only).
 *
 * Sessions (api/auth/*): the page opens on the sign-in form, unless
 * GET api/auth/me says the browser's session cookie (HttpOnly: the script
 * never sees it) is still valid. When any call answers 401 not_signed_in or
 * session_expired, the sign-in form comes back over the registration in
 * progress: what the officer typed stays in the (hidden) form fields, in
 * memory only, and after signing in again as the same officer the step can
 * be submitted again. Signing in as someone else starts a fresh traveller;
 * signing out clears everything. The password lives only in its input, and
 * is cleared after every attempt.
 *
 * Selectors for browser tests: every element below has data-testid equal to
 * its id.
 *   #signin         the sign-in section (hidden while signed in):
 *                   #form-signin, #username, #password, #sign-in,
 *                   #signin-message (data-kind as #message)
 *   #session        "Signed in as": #operator, #operator-role, #sign-out
 *   #app            <main>, hidden while signed out; data-step = dni | flight | details | done | stop
 *   #message        live region (role=status); data-kind = none | busy | ok |
 *                   warning | error
 *   #form-dni       step 1: #dni (input), #check-dni (submit), #dni-error,
 *                   #dni-result (shown when the document is not listed)
 *   #stop           Interpol hit (role=alert): #stop-dni, #stop-details,
 *                   #stop-next (Next traveller)
 *   #form-flight    step 2: #flight, #check-flight, #flight-error, #flight-info
 *   #form-details   step 3: #name, #lodging, #money, #register, and
 *                   #name-error, #lodging-error, #money-error
 *   #done           confirmation: #entry-id, #entry-summary, #next-traveller
 *   #start-over     resets the flow at any step
 *   #progress-dni, #progress-flight, #progress-details, #progress-done:
 *                   the step list; the current one has aria-current="step"
 * Hidden steps carry the `hidden` attribute. Enter submits the current step;
 * focus moves to the next field after each successful step.
 */
"use strict";

(function () {
  const API = "api/";
  const GET_TIMEOUT_MS = 15000;
  // Longer than Apache's proxy timeout (30 s), so a slow registration ends
  // with a known answer (Apache's 504) rather than an unknown outcome.
  const POST_TIMEOUT_MS = 35000;
  const UNAVAILABLE = "The service is unavailable. Please try again.";
  // The reasons of Apache's own answers when no API answered (apache/errors/502-504.json).
  const GATEWAY_REASONS = new Set(["bad_gateway", "api_unavailable", "gateway_timeout"]);
  // 401 reasons that mean "sign in (again)" (the API's auth contract).
  const SIGNED_OUT_REASONS = new Set(["not_signed_in", "session_expired"]);

  const $ = (id) => document.getElementById(id);
  const el = {
    signin: $("signin"),
    formSignin: $("form-signin"),
    username: $("username"),
    password: $("password"),
    signIn: $("sign-in"),
    signinMessage: $("signin-message"),
    session: $("session"),
    operator: $("operator"),
    operatorRole: $("operator-role"),
    signOut: $("sign-out"),
    app: $("app"),
    message: $("message"),
    formDni: $("form-dni"),
    dni: $("dni"),
    checkDni: $("check-dni"),
    dniResult: $("dni-result"),
    stop: $("stop"),
    stopDni: $("stop-dni"),
    stopDetails: $("stop-details"),
    stopNext: $("stop-next"),
    formFlight: $("form-flight"),
    flight: $("flight"),
    checkFlight: $("check-flight"),
    flightInfo: $("flight-info"),
    formDetails: $("form-details"),
    name: $("name"),
    lodging: $("lodging"),
    money: $("money"),
    register: $("register"),
    done: $("done"),
    entryId: $("entry-id"),
    entrySummary: $("entry-summary"),
    nextTraveller: $("next-traveller"),
    startOver: $("start-over"),
  };
  const STEPS = ["dni", "flight", "details", "done"];
  // API field names -> inputs (422 invalid_input carries errors[{field}]).
  const FIELD_INPUT = {
    dni: el.dni,
    flight_number: el.flight,
    name: el.name,
    lodging: el.lodging,
    declared_money: el.money,
  };

  // `run` changes on every reset: an answer that arrives after the officer
  // started over belongs to the previous traveller and is dropped.
  // `operator`: who is signed in (null: nobody); `lastOperator`: who was,
  // so that a registration kept across an expired session is only handed
  // back to the same officer.
  const state = { dni: null, flight: null, busy: false, run: 0, operator: null, lastOperator: null };

  // ---------------------------------------------------------------- helpers

  function say(text, kind) {
    el.message.textContent = text || "";
    el.message.dataset.kind = text ? kind : "none";
  }

  function saySignin(text, kind) {
    el.signinMessage.textContent = text || "";
    el.signinMessage.dataset.kind = text ? kind : "none";
  }

  function setStep(step) {
    el.app.dataset.step = step;
    for (const name of STEPS) {
      const item = $("progress-" + name);
      if (name === step) {
        item.setAttribute("aria-current", "step");
      } else {
        item.removeAttribute("aria-current");
      }
    }
  }

  function errorElement(input) {
    return $(input.id + "-error");
  }

  function setFieldError(input, text) {
    const box = errorElement(input);
    box.textContent = text;
    box.hidden = false;
    input.setAttribute("aria-invalid", "true");
  }

  function clearFieldErrors() {
    for (const input of Object.values(FIELD_INPUT)) {
      const box = errorElement(input);
      box.textContent = "";
      box.hidden = true;
      input.removeAttribute("aria-invalid");
    }
  }

  function setBusy(button, busy) {
    state.busy = busy;
    button.disabled = busy;
    button.form.setAttribute("aria-busy", busy ? "true" : "false");
  }

  function lock(input, button) {
    input.readOnly = true;
    button.hidden = true;
  }

  function unlock(input, button) {
    input.readOnly = false;
    button.hidden = false;
    button.disabled = false;
  }

  function fillDetails(dl, rows) {
    dl.replaceChildren();
    for (const [label, value] of rows) {
      if (value === undefined || value === null || value === "") {
        continue;
      }
      const dt = document.createElement("dt");
      dt.textContent = label;
      const dd = document.createElement("dd");
      dd.textContent = String(value);
      dl.append(dt, dd);
    }
  }

  function formatDateTime(value) {
    if (!value) {
      return value;
    }
    const date = new Date(value);
    if (Number.isNaN(date.getTime())) {
      return value;
    }
    return date.toLocaleString("en-GB", { dateStyle: "medium", timeStyle: "short" });
  }

  const normalizeDocument = (v) => v.toUpperCase().replace(/[\s-]/g, "");
  const normalizeFlight = (v) => v.toUpperCase().replace(/\s/g, "");

  /*
   * Calls the API. Resolves to one of
   *   { unavailable: true, status }      network failure, timeout, or an
   *                                      answer outside the API's contract:
   *                                      not a JSON object, Apache's own
   *                                      502/503/504 (JSON, apache/errors/:
   *                                      no API answered), or an error
   *                                      status without the API's error body
   *                                      {detail, reason} (another server's
   *                                      JSON 404, a wrong base path)
   *   { status, data, retryAfter }       a JSON answer from the API
   *   { signedOut: true }                401 not_signed_in / session_expired:
   *                                      the sign-in form is already shown
   *                                      (the caller just stops)
   */
  async function callApi(path, { method = "GET", body, timeoutMs = GET_TIMEOUT_MS } = {}) {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), timeoutMs);
    try {
      const headers = { Accept: "application/json" };
      if (body !== undefined) {
        headers["Content-Type"] = "application/json";
      }
      const response = await fetch(API + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: controller.signal,
        cache: "no-store",
        credentials: "same-origin",
      });
      const type = response.headers.get("Content-Type") || "";
      if (!type.toLowerCase().includes("json")) {
        return { unavailable: true, status: response.status };
      }
      let data;
      try {
        data = await response.json();
      } catch (err) {
        return { unavailable: true, status: response.status };
      }
      // The session ended (or never began): the sign-in form, over the
      // registration in progress (auth/* calls handle their own 401s).
      if (response.status === 401 && data !== null && typeof data === "object" && SIGNED_OUT_REASONS.has(data.reason)
          && !path.startsWith("auth/")) {
        showSignIn(data.reason);
        return { signedOut: true };
      }
      if (data === null || typeof data !== "object" || Array.isArray(data) || GATEWAY_REASONS.has(data.reason)) {
        return { unavailable: true, status: response.status };
      }
      // A refusal is only the API's when it says why: a 404 without `reason` is
      // not "not listed", it is the wrong server answering.
      if (!response.ok && (typeof data.reason !== "string" || typeof data.detail !== "string")) {
        return { unavailable: true, status: response.status };
      }
      return { status: response.status, data, retryAfter: response.headers.get("Retry-After") };
    } catch (err) {
      return { unavailable: true, status: 0 };
    } finally {
      clearTimeout(timer);
    }
  }

  function unavailableText(result) {
    return result.status ? `${UNAVAILABLE} (HTTP ${result.status})` : UNAVAILABLE;
  }

  function detailOf(result) {
    const detail = result.data && result.data.detail;
    if (typeof detail === "string" && detail) {
      return detail;
    }
    return `The request was refused (HTTP ${result.status}).`;
  }

  /* Shows an API refusal: the detail in the live region, and per-field
   * messages for 422 invalid_input. Returns the first input to focus. */
  function showRefusal(result, fallbackInput) {
    let text = detailOf(result);
    if (result.status === 503 && result.retryAfter && /^\d+$/.test(result.retryAfter)) {
      text += /[.!?]$/.test(text) ? " " : ". ";
      text += `Try again in ${result.retryAfter} seconds.`;
    }
    say(text, result.status === 409 ? "warning" : "error");
    let first = null;
    const errors = Array.isArray(result.data.errors) ? result.data.errors : [];
    for (const item of errors) {
      const input = item && FIELD_INPUT[item.field];
      if (!input) {
        continue;
      }
      setFieldError(input, String(item.message || "Invalid value."));
      if (!first && !input.readOnly && !input.closest("[hidden]")) {
        first = input;
      }
    }
    return first || fallbackInput;
  }

  // ------------------------------------------------------------ the steps

  function showStop(dni, data) {
    el.stopDni.textContent = dni;
    fillDetails(el.stopDetails, [
      ["Name", data.name],
      ["Nationality", data.nationality],
      ["Notice", data.notice],
      ["Listed on", data.listed_on],
      ["Details", data.detail],
    ]);
    lock(el.dni, el.checkDni);
    el.formFlight.hidden = true;
    el.formDetails.hidden = true;
    el.done.hidden = true;
    el.dniResult.hidden = true;
    say("", "none");
    setStep("stop");
    el.stop.hidden = false;
    el.stop.focus();
  }

  async function checkDocument(event) {
    event.preventDefault();
    if (state.busy || el.dni.readOnly) {
      return;
    }
    clearFieldErrors();
    const dni = normalizeDocument(el.dni.value);
    if (!/^[A-Z0-9]{1,32}$/.test(dni)) {
      setFieldError(el.dni, "Enter the document number: letters and digits only.");
      say("Check the document number.", "error");
      el.dni.focus();
      return;
    }
    el.dni.value = dni;
    setBusy(el.checkDni, true);
    say("Checking the Interpol list…", "busy");
    const run = state.run;
    const result = await callApi("dni/" + encodeURIComponent(dni));
    if (run !== state.run) {
      return;
    }
    setBusy(el.checkDni, false);

    if (result.signedOut) {
      return;
    }
    if (result.unavailable) {
      say(unavailableText(result), "error");
      el.dni.focus();
      return;
    }
    if (result.status === 200) {
      // Listed. Any 200 JSON answer stops the flow, whatever it holds.
      showStop(dni, result.data);
      return;
    }
    if (result.status === 404 && result.data.reason === "not_listed") {
      state.dni = dni;
      lock(el.dni, el.checkDni);
      el.dniResult.textContent = "Not on the Interpol list.";
      el.dniResult.hidden = false;
      el.formFlight.hidden = false;
      setStep("flight");
      say(`Document ${dni} is not on the Interpol list. Enter the flight number.`, "ok");
      el.flight.focus();
      return;
    }
    // Anything else (invalid number, a 404 that is not "not_listed", ...)
    // is NOT a clearance.
    showRefusal(result, el.dni).focus();
  }

  async function checkFlight(event) {
    event.preventDefault();
    if (state.busy || el.flight.readOnly) {
      return;
    }
    clearFieldErrors();
    const flight = normalizeFlight(el.flight.value);
    if (!/^[A-Z0-9]{2,10}$/.test(flight)) {
      setFieldError(el.flight, "Enter a flight number such as AA123.");
      say("Check the flight number.", "error");
      el.flight.focus();
      return;
    }
    el.flight.value = flight;
    setBusy(el.checkFlight, true);
    say("Checking the flight…", "busy");
    const run = state.run;
    const result = await callApi("flights/" + encodeURIComponent(flight));
    if (run !== state.run) {
      return;
    }
    setBusy(el.checkFlight, false);

    if (result.signedOut) {
      return;
    }
    if (result.unavailable) {
      say(unavailableText(result), "error");
      el.flight.focus();
      return;
    }
    if (result.status === 200) {
      const data = result.data;
      state.flight = typeof data.flight_number === "string" && data.flight_number ? data.flight_number : flight;
      lock(el.flight, el.checkFlight);
      const route = data.origin && data.destination ? `${data.origin} → ${data.destination}` : "";
      fillDetails(el.flightInfo, [
        ["Flight", state.flight],
        ["Airline", data.airline],
        ["Route", route],
        ["Scheduled arrival", formatDateTime(data.scheduled_arrival)],
      ]);
      el.flightInfo.hidden = false;
      el.formDetails.hidden = false;
      setStep("details");
      say(`Flight ${state.flight} found. Enter the traveller's details.`, "ok");
      el.name.focus();
      return;
    }
    if (result.status === 404 && result.data.reason === "unknown_flight") {
      setFieldError(el.flight, "Unknown flight.");
      say(`Unknown flight ${flight}. ${detailOf(result)}`, "error");
      el.flight.focus();
      return;
    }
    showRefusal(result, el.flight).focus();
  }

  function reopenFlight() {
    state.flight = null;
    unlock(el.flight, el.checkFlight);
    el.flightInfo.hidden = true;
    el.formDetails.hidden = true;
    setStep("flight");
  }

  function showDone(entry, sent) {
    el.entryId.textContent = String(entry.id);
    fillDetails(el.entrySummary, [
      ["Name", entry.name || sent.name],
      ["Document", entry.dni || sent.dni],
      ["Flight", entry.flight_number || sent.flight_number],
      ["Lodging", entry.lodging || sent.lodging],
      ["Declared money", entry.declared_money || sent.declared_money],
    ]);
    el.formDni.hidden = true;
    el.formFlight.hidden = true;
    el.formDetails.hidden = true;
    el.done.hidden = false;
    setStep("done");
    say(`Entry ${entry.id} registered.`, "ok");
    el.nextTraveller.focus();
  }

  async function register(event) {
    event.preventDefault();
    if (state.busy || !state.dni || !state.flight) {
      return;
    }
    clearFieldErrors();
    const name = el.name.value.trim().replace(/\s+/g, " ");
    const lodging = el.lodging.value.trim();
    const money = el.money.value.trim();
    let firstInvalid = null;
    if (!name) {
      setFieldError(el.name, "Enter the traveller's full name.");
      firstInvalid = firstInvalid || el.name;
    }
    if (!lodging) {
      setFieldError(el.lodging, "Enter where the traveller will stay.");
      firstInvalid = firstInvalid || el.lodging;
    }
    if (!/^\d{1,12}(\.\d{1,2})?$/.test(money)) {
      setFieldError(el.money, "Enter the amount as a number, for example 1500.00.");
      firstInvalid = firstInvalid || el.money;
    }
    if (firstInvalid) {
      say("Check the highlighted fields.", "error");
      firstInvalid.focus();
      return;
    }

    const payload = {
      name,
      dni: state.dni,
      lodging,
      declared_money: money,
      flight_number: state.flight,
    };
    setBusy(el.register, true);
    say("Registering the entry…", "busy");
    const run = state.run;
    const result = await callApi("immigration", { method: "POST", body: payload, timeoutMs: POST_TIMEOUT_MS });
    if (run !== state.run) {
      return;
    }
    setBusy(el.register, false);

    if (result.signedOut) {
      return;
    }
    if (result.unavailable) {
      say(unavailableText(result), "error");
      el.register.focus();
      return;
    }
    if (result.status === 201 || result.status === 200) {
      showDone(result.data, payload);
      return;
    }
    const reason = result.data.reason;
    if (result.status === 403 && reason === "interpol_hit") {
      showStop(state.dni, result.data);
      return;
    }
    if (reason === "unknown_flight") {
      reopenFlight();
      setFieldError(el.flight, detailOf(result));
      say(detailOf(result), "error");
      el.flight.focus();
      return;
    }
    if (reason === "insufficient_funds") {
      setFieldError(el.money, detailOf(result));
      say(detailOf(result), "error");
      el.money.focus();
      return;
    }
    if (reason === "lodging_missing") {
      setFieldError(el.lodging, detailOf(result));
      say(detailOf(result), "error");
      el.lodging.focus();
      return;
    }
    showRefusal(result, el.register).focus();
  }

  function reset() {
    state.run += 1;
    state.dni = null;
    state.flight = null;
    state.busy = false;
    clearFieldErrors();
    for (const form of [el.formDni, el.formFlight, el.formDetails]) {
      form.reset();
      form.setAttribute("aria-busy", "false");
    }
    unlock(el.dni, el.checkDni);
    unlock(el.flight, el.checkFlight);
    el.checkDni.disabled = false;
    el.checkFlight.disabled = false;
    el.register.disabled = false;
    el.dniResult.hidden = true;
    el.flightInfo.hidden = true;
    el.formDni.hidden = false;
    el.formFlight.hidden = true;
    el.formDetails.hidden = true;
    el.stop.hidden = true;
    el.done.hidden = true;
    el.stopDni.textContent = "";
    el.stopDetails.replaceChildren();
    el.entryId.textContent = "";
    el.entrySummary.replaceChildren();
    setStep("dni");
    say("", "none");
    el.dni.focus();
  }

  // --------------------------------------------------------------- session

  /* The field to continue in: the first editable, visible one of the step. */
  function currentField() {
    const candidates = [el.dni, el.flight, el.name];
    const found = candidates.find((input) => !input.readOnly && !input.closest("[hidden]"));
    return found || el.nextTraveller;
  }

  /* Signed out (never signed in, the session ended, or signed out): the
   * sign-in form over the page. The registration's fields are left as they
   * are. `reason`: the API's 401 reason, or null. */
  function showSignIn(reason) {
    if (state.operator) {
      state.lastOperator = state.operator;
    }
    state.operator = null;
    el.session.hidden = true;
    el.operator.textContent = "";
    el.operatorRole.textContent = "";
    el.app.hidden = true;
    el.signin.hidden = false;
    el.password.value = "";
    if (reason === "session_expired" || (reason === "not_signed_in" && state.lastOperator)) {
      saySignin("Your session has ended. Sign in again to continue: the traveller's details are kept.", "warning");
    } else {
      saySignin("", "none");
    }
    if (state.lastOperator && !el.username.value) {
      el.username.value = state.lastOperator;
    }
    (el.username.value ? el.password : el.username).focus();
  }

  /* Signed in as `who` ({username, role, ...} from the API). */
  function showSignedIn(who) {
    const username = String(who.username || "");
    const continuing = state.lastOperator !== null && state.lastOperator === username;
    if (state.lastOperator !== null && !continuing) {
      // Another officer at the desk: the previous one's traveller is not theirs.
      reset();
    }
    state.operator = username;
    state.lastOperator = username;
    el.operator.textContent = username;
    el.operatorRole.textContent = who.role ? `(${who.role})` : "";
    el.session.hidden = false;
    el.signin.hidden = true;
    el.password.value = "";
    saySignin("", "none");
    el.app.hidden = false;
    if (continuing) {
      say("Signed in again. Continue where you left off.", "ok");
    }
    currentField().focus();
  }

  function signInRefusal(result) {
    if (result.unavailable) {
      return unavailableText(result);
    }
    const reason = result.data.reason;
    if (result.status === 401 && reason === "bad_credentials") {
      return "Wrong user name or password.";
    }
    if (result.status === 429) {
      const wait = result.retryAfter && /^\d+$/.test(result.retryAfter) ? ` Try again in ${result.retryAfter} seconds.` : "";
      return `Too many failed sign-ins.${wait}`;
    }
    return detailOf(result);
  }

  async function signIn(event) {
    event.preventDefault();
    if (el.signIn.disabled) {
      return;
    }
    const username = el.username.value.trim();
    const password = el.password.value;
    if (!username || !password) {
      saySignin("Enter your user name and password.", "error");
      (username ? el.password : el.username).focus();
      return;
    }
    el.signIn.disabled = true;
    el.formSignin.setAttribute("aria-busy", "true");
    saySignin("Signing in…", "busy");
    const result = await callApi("auth/sign-in", { method: "POST", body: { username, password } });
    el.signIn.disabled = false;
    el.formSignin.setAttribute("aria-busy", "false");
    el.password.value = "";
    if (!result.unavailable && result.status === 200) {
      showSignedIn(result.data);
      return;
    }
    saySignin(signInRefusal(result), "error");
    el.password.focus();
  }

  async function signOut() {
    el.signOut.disabled = true;
    // 204 without a body, or any refusal: either way this page is signed out.
    try {
      await fetch(API + "auth/sign-out", {
        method: "POST",
        headers: { Accept: "application/json" },
        cache: "no-store",
        credentials: "same-origin",
      });
    } catch (err) {
      // Offline: the session ends by itself at its idle timeout.
    }
    el.signOut.disabled = false;
    reset();
    state.lastOperator = null;
    el.username.value = "";
    showSignIn(null);
    saySignin("Signed out.", "ok");
  }

  async function resumeSession() {
    // The form is already shown (and may be half filled in): only a valid
    // session, or an unreachable API, changes anything.
    const result = await callApi("auth/me");
    if (state.operator !== null) {
      return;  // signed in meanwhile
    }
    if (!result.unavailable && result.status === 200) {
      showSignedIn(result.data);
    } else if (result.unavailable) {
      saySignin(unavailableText(result), "error");
    }
  }

  el.formSignin.addEventListener("submit", signIn);
  el.signOut.addEventListener("click", signOut);
  el.formDni.addEventListener("submit", checkDocument);
  el.formFlight.addEventListener("submit", checkFlight);
  el.formDetails.addEventListener("submit", register);
  el.stopNext.addEventListener("click", reset);
  el.nextTraveller.addEventListener("click", reset);
  el.startOver.addEventListener("click", reset);
  el.username.focus();
  resumeSession();
})();
