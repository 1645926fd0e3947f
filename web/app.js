// The inventory dashboard: sign in with Cognito, then read the query API and refresh it live.
//
// No library and no build step. Every value that comes from the API (store and item names
// come straight from uploaded CSV files) is written with textContent or createElement, never
// as HTML, so a name like <img src=x onerror=alert(1)> shows as those characters.

const POLL_MS = 5000;
const PAGE_LIMIT = 100;
const MAX_PAGES = 20; // at most 2,000 stores or items: a cap so one huge list cannot stall the tab
const RECENT_FILES = 20;
const SHOWN_ERRORS = 5;
const TOKEN_KEY = "inventory.accessToken";
const EXPIRES_KEY = "inventory.expiresAt";
const EMAIL_KEY = "inventory.email";
const SESSION_ENDED = "Your session has expired or is not valid. Sign in again.";
const FORMULA_START = /^[=+\-@\t\r]/;

const $ = (id) => document.getElementById(id);

class SessionError extends Error {}

class ApiError extends Error {}

// --- state -----------------------------------------------------------------------------------

let config = null;
let pollTimer = null;
let generation = 0; // bumped on sign-in and sign-out, so late answers of an old session are dropped
let refreshing = null;
const cache = new Map(); // url -> {etag, body}: the last answer, reused on 304
const view = {
  stores: [],
  storesCapped: false,
  outOfStock: [],
  outCapped: false,
  receipts: [],
  selected: null, // the store whose items are shown
  items: [],
  itemsCapped: false,
  itemsLoaded: false,
};
let lastRendered = "";

// --- session ---------------------------------------------------------------------------------

function tokenExpiry(token) {
  // The access token is a JWT; its `exp` (seconds) says when the API stops accepting it.
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const claims = JSON.parse(atob(part.padEnd(part.length + ((4 - (part.length % 4)) % 4), "=")));
    return typeof claims.exp === "number" ? claims.exp * 1000 : null;
  } catch {
    return null;
  }
}

function saveSession(token, expiresInSeconds, email) {
  const fromAnswer = Date.now() + Number(expiresInSeconds || 3600) * 1000;
  const fromToken = tokenExpiry(token);
  sessionStorage.setItem(TOKEN_KEY, token);
  sessionStorage.setItem(EXPIRES_KEY, String(Math.min(fromAnswer, fromToken ?? fromAnswer)));
  sessionStorage.setItem(EMAIL_KEY, email);
}

function currentToken() {
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (!token) return null;
  const stored = Number(sessionStorage.getItem(EXPIRES_KEY));
  const fromToken = tokenExpiry(token);
  const expiresAt = Math.min(stored || Infinity, fromToken ?? Infinity);
  if (Date.now() >= expiresAt - 10000) throw new SessionError("expired");
  return token;
}

// A token the page has checked: its signature against the pool's published keys, its issuer,
// its client and its use. The API's authorizer checks the same; checking here too means a
// forged or foreign token sends the user back to sign-in even where the authorizer's 401
// cannot be read (a 401 without CORS headers reaches the page as a failed fetch).
const checkedTokens = new Map(); // token -> Promise<boolean>
let poolKeys = null; // Promise of the pool's JSON Web Key Set, fetched once

function base64UrlBytes(text) {
  const base64 = text.replace(/-/g, "+").replace(/_/g, "/");
  const binary = atob(base64.padEnd(base64.length + ((4 - (base64.length % 4)) % 4), "="));
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}

function base64UrlJson(text) {
  return JSON.parse(new TextDecoder().decode(base64UrlBytes(text)));
}

function issuer() {
  return `https://cognito-idp.${config.region}.amazonaws.com/${config.userPoolId}`;
}

async function fetchPoolKeys() {
  const response = await fetch(`${config.cognitoEndpoint}${config.userPoolId}/.well-known/jwks.json`);
  if (!response.ok) throw new Error(`keys: ${response.status}`);
  return response.json();
}

async function tokenIsGenuine(token) {
  let header, claims, signature;
  try {
    const [head, body, sig] = token.split(".");
    header = base64UrlJson(head);
    claims = base64UrlJson(body);
    signature = base64UrlBytes(sig);
  } catch {
    return false; // not a JWT at all
  }
  if (header.alg !== "RS256" || claims.iss !== issuer() || claims.client_id !== config.clientId) {
    return false;
  }
  if (claims.token_use !== "access") return false;
  let keys;
  try {
    poolKeys = poolKeys || fetchPoolKeys();
    keys = await poolKeys;
  } catch {
    poolKeys = null;
    return true; // the keys cannot be read now: the API's authorizer still checks the token
  }
  const jwk = (keys.keys || []).find((k) => k.kid === header.kid);
  if (!jwk || !crypto.subtle) return Boolean(jwk); // no key of the pool signed it
  const key = await crypto.subtle.importKey(
    "jwk",
    { kty: jwk.kty, n: jwk.n, e: jwk.e, alg: "RS256", ext: true },
    { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" },
    false,
    ["verify"],
  );
  const signed = new TextEncoder().encode(token.slice(0, token.lastIndexOf(".")));
  return crypto.subtle.verify("RSASSA-PKCS1-v1_5", key, signature, signed);
}

async function genuineToken() {
  const token = currentToken();
  if (!token) throw new SessionError("no token");
  if (!checkedTokens.has(token)) checkedTokens.set(token, tokenIsGenuine(token).catch(() => false));
  if (!(await checkedTokens.get(token))) throw new SessionError("not genuine");
  return token;
}

function clearSession() {
  sessionStorage.removeItem(TOKEN_KEY);
  sessionStorage.removeItem(EXPIRES_KEY);
  sessionStorage.removeItem(EMAIL_KEY);
  cache.clear();
  generation += 1;
  stopPolling();
}

// --- messages --------------------------------------------------------------------------------

function showAlert(message, kind = "error") {
  const alert = $("alert");
  alert.textContent = message;
  alert.dataset.kind = kind;
  alert.hidden = false;
}

function clearAlert() {
  const alert = $("alert");
  alert.textContent = "";
  delete alert.dataset.kind;
  alert.hidden = true;
}

const SIGN_IN_ERRORS = {
  NotAuthorizedException: "The email or password is not correct. Check them and try again.",
  UserNotFoundException: "The email or password is not correct. Check them and try again.",
  UserNotConfirmedException:
    "This account is not confirmed yet. Ask the person who manages the dashboard to confirm it.",
  PasswordResetRequiredException:
    "This account needs a new password. Ask the person who manages the dashboard to reset it.",
  TooManyRequestsException: "Too many sign-in attempts. Wait a minute, then try again.",
  LimitExceededException: "Too many sign-in attempts. Wait a minute, then try again.",
  TooManyFailedAttemptsException: "Too many failed attempts. Wait a few minutes, then try again.",
  InvalidParameterException: "Enter your email address and your password.",
};

function signInErrorMessage(body) {
  const type = String(body.__type || "").split("#").pop();
  const said = String(body.message || body.Message || "");
  if (type === "NotAuthorizedException" && /disabled/i.test(said)) {
    return "This account is disabled. Ask the person who manages the dashboard.";
  }
  if (SIGN_IN_ERRORS[type]) return SIGN_IN_ERRORS[type];
  return said ? `Sign-in failed: ${said}` : "Sign-in failed. Try again in a moment.";
}

// --- sign-in ---------------------------------------------------------------------------------

async function signIn(event) {
  event.preventDefault();
  const email = $("email").value.trim();
  const password = $("password").value;
  if (!email || !password) {
    showAlert("Enter your email address and your password.");
    (email ? $("password") : $("email")).focus();
    return;
  }
  const button = $("sign-in-button");
  button.disabled = true;
  button.textContent = "Signing in…";
  clearAlert();
  try {
    let response;
    try {
      response = await fetch(config.cognitoEndpoint, {
        method: "POST",
        headers: {
          "Content-Type": "application/x-amz-json-1.1",
          "X-Amz-Target": "AWSCognitoIdentityProviderService.InitiateAuth",
        },
        body: JSON.stringify({
          AuthFlow: "USER_PASSWORD_AUTH",
          ClientId: config.clientId,
          AuthParameters: { USERNAME: email, PASSWORD: password },
        }),
        cache: "no-store",
      });
    } catch {
      showAlert("Could not reach the sign-in service. Check your connection and try again.");
      return;
    }
    const body = await response.json().catch(() => ({}));
    if (!response.ok) {
      showAlert(signInErrorMessage(body));
      $("password").select();
      $("password").focus();
      return;
    }
    if (body.ChallengeName === "NEW_PASSWORD_REQUIRED") {
      showAlert(
        "Your account must get a new password before you can sign in, and this page cannot " +
          "set one. Ask the person who manages the dashboard to set a permanent password " +
          "(inventory user add EMAIL --reset).",
      );
      return;
    }
    if (body.ChallengeName) {
      showAlert(`This account needs a sign-in step this page does not support (${body.ChallengeName}).`);
      return;
    }
    const result = body.AuthenticationResult || {};
    if (!result.AccessToken) {
      showAlert("The sign-in service gave no access token. Try again in a moment.");
      return;
    }
    saveSession(result.AccessToken, result.ExpiresIn, email);
    $("password").value = "";
    showDashboard();
  } finally {
    button.disabled = false;
    button.textContent = "Sign in";
  }
}

function showSignIn(message) {
  $("loading").hidden = true;
  $("dashboard").hidden = true;
  $("session").hidden = true;
  $("sign-in").hidden = false;
  if (message) showAlert(message);
  $("email").focus();
}

function showDashboard() {
  generation += 1;
  clearAlert();
  lastRendered = "";
  $("loading").hidden = true;
  $("sign-in").hidden = true;
  $("session").hidden = false;
  $("dashboard").hidden = false;
  $("signed-in-as").textContent = sessionStorage.getItem(EMAIL_KEY) || "";
  $("updated").textContent = "";
  $("checked").textContent = "";
  refreshNow();
}

function signOut() {
  clearSession();
  resetView();
  clearAlert();
  showSignIn();
}

function sessionEnded() {
  clearSession();
  resetView();
  showSignIn(SESSION_ENDED);
}

function resetView() {
  Object.assign(view, {
    stores: [],
    storesCapped: false,
    outOfStock: [],
    outCapped: false,
    receipts: [],
    selected: null,
    items: [],
    itemsCapped: false,
    itemsLoaded: false,
  });
  lastRendered = "";
  $("search").value = "";
  for (const id of ["stores-table", "items-table", "out-table", "receipts-table"]) {
    $(id).tBodies[0].replaceChildren();
  }
}

// --- the API ---------------------------------------------------------------------------------

async function apiGet(path) {
  const token = await genuineToken();
  const url = config.apiUrl + path;
  const headers = { Authorization: `Bearer ${token}` };
  const cached = cache.get(url);
  if (cached) headers["If-None-Match"] = cached.etag;
  // no-store: the browser's own cache stays out, so a 304 reaches this code and the ETag
  // sent is the one whose body we hold.
  const response = await fetch(url, { headers, cache: "no-store" });
  if (response.status === 401) throw new SessionError("401");
  if (response.status === 304 && cached) return cached.body;
  if (!response.ok) {
    const body = await response.json().catch(() => ({}));
    throw new ApiError(`${response.status} ${body.message || response.statusText}`.trim());
  }
  const body = await response.json();
  const etag = response.headers.get("ETag");
  if (etag) cache.set(url, { etag, body });
  return body;
}

async function getAll(path, key) {
  // Every page of a list, following `next`, up to MAX_PAGES pages.
  let found = [];
  let next = null;
  for (let page = 0; page < MAX_PAGES; page += 1) {
    const separator = path.includes("?") ? "&" : "?";
    const query = `limit=${PAGE_LIMIT}${next ? `&next=${encodeURIComponent(next)}` : ""}`;
    const body = await apiGet(`${path}${separator}${query}`);
    found = found.concat(Array.isArray(body[key]) ? body[key] : []);
    next = body.next;
    if (!next) return { list: found, capped: false };
  }
  return { list: found, capped: true };
}

function storePath(store) {
  // Not /stores/{store}/items: a name holding "/" cannot travel in a path segment (API
  // Gateway decodes %2F before it routes), so the store goes in the query.
  return `/items?store=${encodeURIComponent(store)}`;
}

// --- polling ---------------------------------------------------------------------------------

function stopPolling() {
  clearTimeout(pollTimer);
  pollTimer = null;
}

function schedule() {
  stopPolling();
  if (document.visibilityState === "visible" && sessionStorage.getItem(TOKEN_KEY)) {
    pollTimer = setTimeout(refreshNow, POLL_MS);
  }
}

function refreshNow() {
  stopPolling();
  if (!refreshing) {
    refreshing = refresh().finally(() => {
      refreshing = null;
      schedule();
    });
  }
  return refreshing;
}

async function refresh() {
  const started = generation;
  try {
    const selected = view.selected;
    const [stores, out, receipts, items] = await Promise.all([
      getAll("/stores", "stores"),
      getAll("/out-of-stock", "items"),
      apiGet(`/receipts?limit=${RECENT_FILES}`),
      selected === null ? null : getAll(storePath(selected), "items"),
    ]);
    if (started !== generation) return;
    view.stores = stores.list;
    view.storesCapped = stores.capped;
    view.outOfStock = out.list;
    view.outCapped = out.capped;
    view.receipts = Array.isArray(receipts.receipts) ? receipts.receipts : [];
    if (items) keepItems(selected, items);
    loaded();
  } catch (error) {
    failed(error, started);
  }
}

function keepItems(store, items) {
  // Only the answer for the store still shown counts: the user may have picked another since.
  if (view.selected !== store) return;
  view.items = items.list;
  view.itemsCapped = items.capped;
  view.itemsLoaded = true;
}

function loaded() {
  if ($("alert").dataset.kind === "network") clearAlert();
  render();
  $("checked").textContent = `(checked ${clock(new Date())})`;
}

function failed(error, started) {
  if (started !== generation) return;
  if (error instanceof SessionError) {
    sessionEnded();
    return;
  }
  const detail = error instanceof ApiError ? ` (${error.message})` : "";
  showAlert(`Could not load the inventory${detail}. Showing the last data; retrying in 5 s.`, "network");
}

function onVisibilityChange() {
  if (document.visibilityState === "visible") {
    if (!$("dashboard").hidden) refreshNow();
  } else {
    stopPolling();
  }
}

// --- rendering -------------------------------------------------------------------------------

function clock(date) {
  return date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}

function timeCell(iso) {
  const cell = el("td");
  if (!iso) {
    cell.textContent = "—";
    return cell;
  }
  const date = new Date(String(iso));
  if (Number.isNaN(date.getTime())) {
    cell.textContent = String(iso);
    return cell;
  }
  const time = el("time", date.toLocaleString([], { dateStyle: "short", timeStyle: "medium" }));
  time.dateTime = date.toISOString();
  time.title = date.toString();
  cell.append(time);
  return cell;
}

function numberCell(value) {
  const number = Number(value);
  return el("td", Number.isFinite(number) ? number.toLocaleString() : String(value ?? "—"), "num");
}

function count(n, one, many) {
  return `${Number(n).toLocaleString()} ${Number(n) === 1 ? one : many}`;
}

function badge(text, kind) {
  return el("span", text, `badge badge--${kind}`);
}

function render() {
  // Rebuild only when something changed, so polling does not disturb focus or screen readers.
  const snapshot = JSON.stringify(view);
  if (snapshot === lastRendered) return;
  lastRendered = snapshot;
  renderStores();
  renderItems();
  renderOutOfStock();
  renderReceipts();
  $("updated").textContent = `Updated ${clock(new Date())}`;
}

function matches(store) {
  const wanted = $("search").value.trim().toLocaleLowerCase();
  return !wanted || String(store.store).toLocaleLowerCase().includes(wanted);
}

function renderStores() {
  const body = $("stores-table").tBodies[0];
  const focused = document.activeElement?.dataset?.store;
  const shown = view.stores.filter(matches);
  const rows = shown.map((store) => {
    const row = el("tr");
    const name = el("td");
    const button = el("button", store.store, "link-button");
    button.type = "button";
    button.dataset.store = String(store.store);
    if (store.store === view.selected) button.setAttribute("aria-current", "true");
    button.addEventListener("click", () => selectStore(String(store.store)));
    name.append(button);
    const out = numberCell(store.out_of_stock);
    if (Number(store.out_of_stock) > 0) out.classList.add("warn");
    row.append(name, numberCell(store.items), out, timeCell(store.updated_at));
    return row;
  });
  body.replaceChildren(...rows);
  if (focused !== undefined) {
    const again = [...body.querySelectorAll("button")].find((b) => b.dataset.store === focused);
    again?.focus();
  }
  const total = view.stores.length;
  const capped = view.storesCapped ? ` (the first ${total.toLocaleString()} only)` : "";
  let summary;
  if (total === 0) summary = "No stores yet. Upload a CSV file to see it here.";
  else if (shown.length === total) summary = `${count(total, "store", "stores")}${capped}.`;
  else if (shown.length === 0) summary = `No store name contains “${$("search").value.trim()}”.`;
  else summary = `Showing ${shown.length.toLocaleString()} of ${total.toLocaleString()} stores${capped}.`;
  $("stores-count").textContent = summary;
}

async function selectStore(store) {
  view.selected = store;
  view.items = [];
  view.itemsCapped = false;
  view.itemsLoaded = false;
  renderStores();
  renderItems();
  $("store-title").focus();
  const started = generation;
  try {
    const items = await getAll(storePath(store), "items");
    if (started !== generation) return;
    keepItems(store, items);
    loaded();
  } catch (error) {
    failed(error, started);
  }
}

function renderItems() {
  const wrap = $("items-table").closest(".table-wrap");
  const body = $("items-table").tBodies[0];
  if (view.selected === null) {
    $("store-title").textContent = "Items";
    $("store-summary").textContent = "Choose a store to see its items.";
    $("export").hidden = true;
    wrap.hidden = true;
    body.replaceChildren();
    return;
  }
  $("store-title").textContent = `Items in ${view.selected}`;
  if (!view.itemsLoaded) {
    $("store-summary").textContent = "Loading…";
    $("export").hidden = true;
    wrap.hidden = true;
    body.replaceChildren();
    return;
  }
  const rows = view.items.map((item) => {
    const row = el("tr");
    const countCell = numberCell(item.count);
    if (Number(item.count) === 0) {
      row.classList.add("is-out");
      countCell.append(" ", badge("out of stock", "out"));
    }
    row.append(el("td", item.item), countCell, timeCell(item.updated_at), el("td", item.source_key ?? "—", "path"));
    return row;
  });
  body.replaceChildren(...rows);
  const out = view.items.filter((item) => Number(item.count) === 0).length;
  const capped = view.itemsCapped ? ` (the first ${view.items.length.toLocaleString()} only)` : "";
  $("store-summary").textContent = view.items.length
    ? `${count(view.items.length, "item", "items")}${capped}, ${out.toLocaleString()} out of stock.`
    : "This store has no items.";
  $("export").hidden = view.items.length === 0;
  wrap.hidden = view.items.length === 0;
}

function renderOutOfStock() {
  const rows = view.outOfStock.map((item) => {
    const row = el("tr");
    const name = el("td", item.item);
    name.append(" ", badge("out of stock", "out"));
    row.append(el("td", item.store), name, timeCell(item.updated_at), el("td", item.source_key ?? "—", "path"));
    return row;
  });
  $("out-table").tBodies[0].replaceChildren(...rows);
  const n = view.outOfStock.length;
  const capped = view.outCapped ? " (the first ones only)" : "";
  $("out-summary").textContent = n ? `${count(n, "item", "items")} out of stock${capped}.` : "No item is out of stock.";
}

function renderReceipts() {
  const rows = view.receipts.map((receipt) => {
    const row = el("tr");
    const status = el("td");
    const rejected = receipt.status === "rejected";
    status.append(badge(String(receipt.status ?? "unknown"), rejected ? "rejected" : "loaded"));
    if (receipt.superseded) status.append(" ", badge("superseded", "muted"));
    const counts = el("td", null, "num");
    counts.append(el("span", `${Number(receipt.rows_written ?? 0).toLocaleString()} written`));
    if (Number(receipt.rows_rejected) > 0) {
      counts.append(el("br"), el("span", `${Number(receipt.rows_rejected).toLocaleString()} rejected`));
    }
    if (Number(receipt.rows_stale) > 0) {
      counts.append(el("br"), el("span", `${Number(receipt.rows_stale).toLocaleString()} stale`));
    }
    row.append(el("td", receipt.key, "path"), status, counts, problemsCell(receipt), timeCell(receipt.processed_at));
    return row;
  });
  $("receipts-table").tBodies[0].replaceChildren(...rows);
  const n = view.receipts.length;
  $("receipts-summary").textContent = n
    ? `The ${count(n, "most recent file", "most recent files")}, newest first.`
    : "No file processed in the last 7 days.";
}

function problemsCell(receipt) {
  const cell = el("td");
  if (receipt.reason) cell.append(el("p", receipt.reason, "reason"));
  const errors = Array.isArray(receipt.errors) ? receipt.errors : [];
  if (errors.length) {
    const list = el("ul", null, "errors");
    for (const error of errors.slice(0, SHOWN_ERRORS)) {
      list.append(el("li", `line ${error.line}: ${error.reason}`));
    }
    const more = Number(receipt.rows_rejected || errors.length) - Math.min(errors.length, SHOWN_ERRORS);
    if (more > 0) list.append(el("li", `and ${more.toLocaleString()} more`, "muted"));
    cell.append(list);
  }
  if (!cell.childNodes.length) cell.textContent = "—";
  return cell;
}

// --- CSV export --------------------------------------------------------------------------------

function csvCell(value) {
  // A spreadsheet runs a cell that starts with = + - @ (or a tab or CR before one) as a formula.
  let text = value === null || value === undefined ? "" : String(value);
  if (FORMULA_START.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

function toCsv(rows) {
  return rows.map((row) => row.map(csvCell).join(",")).join("\r\n") + "\r\n";
}

function exportCsv() {
  if (view.selected === null) return;
  const rows = [["store", "item", "count", "updated_at", "source_key"]];
  for (const item of view.items) {
    rows.push([view.selected, item.item, item.count, item.updated_at, item.source_key]);
  }
  // The BOM tells spreadsheets the file is UTF-8, so non-ASCII names survive.
  const blob = new Blob(["\ufeff", toCsv(rows)], { type: "text/csv;charset=utf-8" });
  const link = el("a");
  link.href = URL.createObjectURL(blob);
  link.download = `${view.selected.replace(/[^\p{L}\p{N}._-]+/gu, "_").slice(0, 100) || "store"}-items.csv`;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 10000);
}

// --- start -----------------------------------------------------------------------------------

async function loadConfig() {
  const response = await fetch("config.json", { cache: "no-store" });
  if (!response.ok) throw new Error(`config.json: ${response.status}`);
  const found = await response.json();
  for (const key of ["region", "userPoolId", "clientId", "apiUrl", "cognitoEndpoint"]) {
    if (typeof found[key] !== "string" || !found[key]) throw new Error(`config.json has no ${key}`);
  }
  found.apiUrl = found.apiUrl.replace(/\/+$/, "");
  return found;
}

async function start() {
  $("sign-in-form").addEventListener("submit", signIn);
  $("sign-out").addEventListener("click", signOut);
  $("export").addEventListener("click", exportCsv);
  $("search").addEventListener("input", renderStores);
  document.addEventListener("visibilitychange", onVisibilityChange);
  try {
    config = await loadConfig();
  } catch (error) {
    $("loading").hidden = true;
    showAlert(`The dashboard is not set up (${error.message}). Ask the person who deployed it.`);
    return;
  }
  if (!sessionStorage.getItem(TOKEN_KEY)) {
    showSignIn();
    return;
  }
  try {
    currentToken();
  } catch {
    sessionEnded();
    return;
  }
  showDashboard();
}

start();
