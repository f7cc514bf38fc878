// webhook-resend console: a dependency-free module. It talks to the public API of the origin it
// is served from, with the tenant's token from this tab's sessionStorage.
//
// Everything the API returns is put on the page as text (textContent, DOM nodes): a receiver's
// answer or a user's description is never parsed as HTML.

const TOKEN_KEY = "webhook-resend.token";
const FINAL_JOB = new Set(["completed", "rejected", "cancelled"]);
// A cancelled job still ends its pending pairs for a while: it is watched until none is left.
const settled = (job) => FINAL_JOB.has(job.status) && !(job.pending > 0);
const REFRESH_MS = 2000;
// Resending a job's failures narrows a failed-since resend to the webhooks its failed records
// name; this many pages of 1,000 records are read to find them.
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const $ = (id) => document.getElementById(id);

// -- DOM, as text only -----------------------------------------------------------------------------
function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "class") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("aria-") || key === "role") node.setAttribute(key, String(value));
    else node[key] = value;
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function setText(id, text) {
  $(id).textContent = text || "";
}

// -- the token ---------------------------------------------------------------------------------------
const token = {
  get: () => sessionStorage.getItem(TOKEN_KEY),
  set: (value) => sessionStorage.setItem(TOKEN_KEY, value),
  clear: () => sessionStorage.removeItem(TOKEN_KEY),
};

// -- the API -----------------------------------------------------------------------------------------
class ApiError extends Error {
  constructor(status, messages) {
    super(messages.join("\n"));
    this.status = status;
  }
}

function errorMessages(status, body) {
  const errors = body && Array.isArray(body.errors) ? body.errors : [];
  const messages = errors.map((e) => (e && e.field ? `${e.field}: ${e.message}` : String(e && e.message)));
  if (body && body.message && !messages.length) messages.push(String(body.message));
  if (!messages.length) messages.push(`the API answered HTTP ${status}`);
  return messages.map((m) => `${m} (HTTP ${status})`);
}

async function api(method, path, { body, query, idempotencyKey } = {}) {
  const secret = token.get();
  if (!secret) throw new ApiError(401, ["sign in first"]);
  const url = new URL(path, window.location.origin);
  for (const [key, value] of Object.entries(query || {})) {
    if (value !== undefined && value !== null && value !== "") url.searchParams.set(key, value);
  }
  const headers = { Authorization: `Bearer ${secret}`, Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (idempotencyKey) headers["Idempotency-Key"] = idempotencyKey;
  let response;
  try {
    response = await fetch(url, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "omit",
      cache: "no-store",
      referrerPolicy: "no-referrer",
    });
  } catch (error) {
    throw new ApiError(0, [`the API could not be reached (${error.message})`]);
  }
  let answer = null;
  try {
    answer = await response.json();
  } catch {
    answer = null;
  }
  if (response.status === 401) {
    const messages = errorMessages(401, answer);
    signOut(`The token was refused; sign in again.\n${messages.join("\n")}`);
    throw new ApiError(401, messages);
  }
  if (!response.ok) throw new ApiError(response.status, errorMessages(response.status, answer));
  return answer;
}

function newIdempotencyKey() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

// -- formatting --------------------------------------------------------------------------------------
const number = new Intl.NumberFormat("en");

function fmt(value) {
  return value === undefined || value === null ? "—" : typeof value === "number" ? number.format(value) : String(value);
}

function duration(seconds) {
  if (seconds === undefined || seconds === null) return "—";
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
}

function rateAndEta(job) {
  if (job.rate === undefined || job.rate === null) return "—";
  const rate = `${job.rate.toFixed(job.rate < 10 ? 1 : 0)}/s`;
  return job.eta === undefined || job.eta === null ? rate : `${rate}, eta ${duration(job.eta)}`;
}

function statusBadge(status) {
  return el("span", { class: `status status-${String(status).replace(/[^a-z]/g, "")}` }, status);
}

function counts(job) {
  return {
    delivered: job.delivered || 0,
    failed: job.failed || 0,
    cancelled: job.cancelled || 0,
    pending: job.pending || 0,
    total: job.total_queued || 0,
  };
}

// A progress bar of the job's pairs: delivered, failed and cancelled segments over the pending rest.
function progressBar(job, large = false) {
  const c = counts(job);
  const ended = c.delivered + c.failed + c.cancelled;
  const text =
    `${fmt(c.delivered)} delivered, ${fmt(c.failed)} failed, ${fmt(c.cancelled)} cancelled, ` +
    `${fmt(c.pending)} pending of ${fmt(c.total)}`;
  const bar = el("div", {
    class: large ? "progress large" : "progress",
    role: "progressbar",
    "aria-valuemin": 0,
    "aria-valuemax": c.total,
    "aria-valuenow": ended,
    "aria-valuetext": text,
    "aria-label": `Progress of job ${job.id}`,
    title: text,
  });
  for (const part of ["delivered", "failed", "cancelled"]) {
    const segment = el("span", { class: part });
    // CSSOM, not a style attribute: allowed under a style-src without 'unsafe-inline'.
    segment.style.width = c.total ? `${(100 * c[part]) / c.total}%` : "0%";
    bar.append(segment);
  }
  return bar;
}

// -- sign in and out ---------------------------------------------------------------------------------
const timers = { jobs: null, job: null };
// The number of the latest load of each view: an answer to an earlier one is dropped.
const loads = { jobs: 0, job: 0, deliveries: 0 };

function stopTimers() {
  for (const key of Object.keys(timers)) {
    clearTimeout(timers[key]);
    timers[key] = null;
  }
}

function showSignedIn(signedIn) {
  $("sign-in").hidden = signedIn;
  $("signed-in").hidden = !signedIn;
  $("sign-out").hidden = !signedIn;
}

function signOut(message) {
  token.clear();
  stopTimers();
  // Answers still on their way are dropped: nothing of this session is shown after it.
  for (const key of Object.keys(loads)) loads[key] += 1;
  for (const id of ["jobs-error", "job-error", "deliveries-error", "resend-summary", "resend-error", "failed-summary"]) {
    setText(id, "");
  }
  $("failed-preview").hidden = true;
  $("cancel-confirm").hidden = true;
  $("resend-queue").disabled = true;
  state.resendBody = null;
  state.failedBody = null;
  state.job = null;
  state.jobs = [];
  state.jobsCursor = null;
  state.jobPages = 1;
  $("jobs-body").replaceChildren();
  $("deliveries-body").replaceChildren();
  $("job-counters").replaceChildren();
  $("job-progress").replaceChildren();
  $("job").hidden = true;
  $("jobs").hidden = false;
  $("new-resend").hidden = false;
  showSignedIn(false);
  setText("sign-in-error", message || "");
  if (window.location.hash) history.replaceState(null, "", window.location.pathname);
  $("token").focus();
}

async function signIn(event) {
  event.preventDefault();
  const value = $("token").value.trim();
  setText("sign-in-error", "");
  if (!value) {
    setText("sign-in-error", "Enter your tenant's token.");
    return;
  }
  token.set(value);
  $("token").value = "";
  try {
    await api("GET", "/resends", { query: { limit: 1 } });
  } catch (error) {
    if (error.status !== 401) {
      token.clear();
      setText("sign-in-error", error.message);
    }
    return;
  }
  start();
}

// -- the jobs ----------------------------------------------------------------------------------------
const state = { jobs: [], jobsCursor: null, jobPages: 1, job: null, deliveryCursors: [null], deliveryNext: null, failedBody: null, resendBody: null, failedKey: null, resendKey: null };

function jobRow(job) {
  const open = el("button", { type: "button", class: "link", dataset: { job: job.id } }, job.id);
  open.setAttribute("aria-label", `Open job ${job.id}`);
  open.addEventListener("click", () => openJob(job.id));
  const c = counts(job);
  return el(
    "tr",
    { dataset: { job: job.id } },
    el("td", {}, open),
    el("td", {}, fmt(job.created_on)),
    el("td", {}, statusBadge(job.status)),
    el("td", {}, progressBar(job)),
    el("td", { class: "num" }, fmt(c.delivered)),
    el("td", { class: "num" }, fmt(c.failed)),
    el("td", { class: "num" }, fmt(c.cancelled)),
    el("td", { class: "num" }, fmt(c.pending)),
    el("td", { class: "num" }, rateAndEta(job)),
  );
}

function renderJobs() {
  $("jobs-body").replaceChildren(...state.jobs.map(jobRow));
  $("jobs-empty").hidden = state.jobs.length > 0;
  $("jobs-more").hidden = !state.jobsCursor;
  const live = state.jobs.some((job) => !settled(job));
  setText("jobs-live", live ? "refreshing while jobs run" : "");
}

async function loadJobs({ more = false } = {}) {
  clearTimeout(timers.jobs);
  const load = ++loads.jobs;
  try {
    const page = await api("GET", "/resends", {
      query: { status: $("jobs-status").value, limit: 25, cursor: more ? state.jobsCursor : null },
    });
    if (load !== loads.jobs) return; // a later load (another status, a refresh) is on its way
    if (more) {
      state.jobs = state.jobs.concat(page.data);
      state.jobsCursor = page.next_cursor;
      state.jobPages += 1;
    } else if (state.jobPages > 1) {
      // A refresh keeps the older pages shown: rows of this first page are refreshed, new jobs
      // go on top, and the cursor still points past the last page read.
      const fresh = new Map(page.data.map((job) => [job.id, job]));
      const shown = new Set(state.jobs.map((job) => job.id));
      const added = page.data.filter((job) => !shown.has(job.id));
      state.jobs = added.concat(state.jobs.map((job) => fresh.get(job.id) || job));
    } else {
      state.jobs = page.data;
      state.jobsCursor = page.next_cursor;
    }
    setText("jobs-error", "");
    renderJobs();
  } catch (error) {
    if (load !== loads.jobs) return;
    setText("jobs-error", error.message);
  }
  if (token.get() && !$("jobs").hidden && state.jobs.some((job) => !settled(job))) {
    timers.jobs = setTimeout(() => loadJobs(), REFRESH_MS);
  }
}

// -- a job -------------------------------------------------------------------------------------------
const JOB_FIELDS = [
  ["status", "Status"],
  ["source", "Source"],
  ["event", "Event"],
  ["created_on", "Created"],
  ["completed_on", "Completed"],
  ["total_items", "Items"],
  ["total_queued", "Pairs queued"],
  ["delivered", "Delivered"],
  ["failed", "Failed"],
  ["cancelled", "Cancelled"],
  ["pending", "Pending"],
  ["rate", "Rate"],
  ["eta", "ETA"],
  ["reason", "Reason"],
];

function renderJob(job) {
  setText("job-title", `Job ${job.id}`);
  $("job-progress").replaceChildren(progressBar(job, true));
  const rows = JOB_FIELDS.map(([key, label]) => {
    let value = job[key];
    if (key === "status") value = statusBadge(job.status);
    else if (key === "rate") value = value === undefined || value === null ? "—" : `${value.toFixed(1)}/s`;
    else if (key === "eta") value = duration(value);
    else if (key === "cancelled") value = fmt(value || 0);
    else value = fmt(value);
    return el("div", { dataset: { field: key } }, el("dt", {}, label), el("dd", {}, value));
  });
  $("job-counters").replaceChildren(...rows);
  const status = job.status;
  $("job-pause").disabled = !(status === "running" || status === "selecting");
  $("job-resume").disabled = status !== "paused";
  $("job-cancel").disabled = !(status === "running" || status === "selecting" || status === "paused");
  $("job-resend-failed").disabled = !(job.failed > 0);
  if ($("job-cancel").disabled) $("cancel-confirm").hidden = true;
}

async function refreshJob() {
  clearTimeout(timers.job);
  const id = state.job && state.job.id;
  if (!id) return;
  const load = ++loads.job;
  try {
    const job = await api("GET", `/resends/${encodeURIComponent(id)}`);
    if (load !== loads.job || !state.job || state.job.id !== id) return;
    state.job = job;
    renderJob(job);
    setText("job-error", "");
  } catch (error) {
    if (load !== loads.job) return;
    setText("job-error", error.message);
    if (error.status === 404) return; // no such job: nothing to watch
  }
  if (load === loads.job && token.get() && state.job && state.job.id === id && !settled(state.job)) {
    timers.job = setTimeout(refreshJob, REFRESH_MS);
  }
}

async function openJob(id, { fromHash = false } = {}) {
  state.job = { id };
  state.deliveryCursors = [null];
  // A job has the page to itself; "Back to the jobs" brings the list (and its refresh) back.
  clearTimeout(timers.jobs);
  $("jobs").hidden = true;
  $("new-resend").hidden = true;
  $("job").hidden = false;
  $("cancel-confirm").hidden = true;
  $("failed-preview").hidden = true;
  setText("job-error", "");
  setText("job-title", `Job ${id}`);
  $("job-counters").replaceChildren();
  $("job-progress").replaceChildren();
  // The job's actions wait for the job (renderJob enables what its status allows): a click before
  // it is read would act on nothing.
  for (const action of ["job-pause", "job-resume", "job-cancel", "job-resend-failed"]) $(action).disabled = true;
  if (!fromHash) history.replaceState(null, "", `#job=${encodeURIComponent(id)}`);
  $("job-title").focus();
  await refreshJob();
  await loadDeliveries();
}

function closeJob() {
  clearTimeout(timers.job);
  state.job = null;
  $("job").hidden = true;
  $("jobs").hidden = false;
  $("new-resend").hidden = false;
  history.replaceState(null, "", window.location.pathname);
  loadJobs();
  $("jobs-title").focus();
}

function deliveryRow(record) {
  const answer = record.last_response ? el("pre", { class: "answer" }, record.last_response) : "—";
  return el(
    "tr",
    {},
    el("td", {}, statusBadge(record.status)),
    el("td", { class: "url" }, `${record.method || "POST"} ${record.url}`),
    el("td", { class: "url" }, `${record.kind || "item"} ${record.subject_id}`),
    el("td", { class: "num" }, fmt(record.attempts)),
    el("td", { class: "num" }, fmt(record.last_status_code)),
    el("td", { class: "error" }, fmt(record.last_error)),
    el("td", {}, answer),
  );
}

async function loadDeliveries() {
  const id = state.job && state.job.id;
  if (!id) return;
  const page = state.deliveryCursors.length;
  // Only the latest load is shown: an earlier one (another filter, another page) answering later
  // must not overwrite it.
  const load = ++loads.deliveries;
  try {
    const answer = await api("GET", `/resends/${encodeURIComponent(id)}/deliveries`, {
      query: {
        status: $("deliveries-status").value,
        limit: $("deliveries-limit").value,
        cursor: state.deliveryCursors[page - 1],
      },
    });
    if (load !== loads.deliveries || !state.job || state.job.id !== id) return;
    $("deliveries-body").replaceChildren(...answer.data.map(deliveryRow));
    $("deliveries-empty").hidden = answer.data.length > 0;
    state.deliveryNext = answer.next_cursor;
    $("deliveries-next").disabled = !answer.next_cursor;
    $("deliveries-first").disabled = page <= 1;
    $("deliveries-previous").disabled = page <= 1;
    setText("deliveries-page", `page ${page}`);
    setText("deliveries-error", "");
  } catch (error) {
    if (load === loads.deliveries) setText("deliveries-error", error.message);
  }
}

// -- job actions -------------------------------------------------------------------------------------
async function jobAction(action) {
  const id = state.job && state.job.id;
  if (!id) return;
  setText("job-error", "");
  try {
    const job = await api("POST", `/resends/${encodeURIComponent(id)}/${action}`);
    if (state.job && state.job.id === id && job && job.id) {
      state.job = job;
      renderJob(job);
    }
  } catch (error) {
    setText("job-error", error.message);
  }
  $("cancel-confirm").hidden = true;
  await refreshJob();
}

async function previewFailed() {
  const job = state.job;
  if (!job || !job.created_on) return;
  state.failedBody = null;
  $("failed-preview").hidden = false;
  $("failed-queue").disabled = true;
  setText("failed-summary", "Counting the job's failed pairs…");
  try {
    // Exactly this job's failed pairs (webhooks and task callbacks alike): job_id narrows the
    // resend by outcome to the job, since its creation.
    const body = { delivery_status: "failed", since: job.created_on, job_id: job.id };
    const dry = await api("POST", "/resends", { body: { ...body, dry_run: true } });
    state.failedBody = body;
    // One key per preview: queuing again after an answer that never came cannot queue twice.
    state.failedKey = newIdempotencyKey();
    const webhooks = Object.keys(dry.webhooks || {});
    setText(
      "failed-summary",
      dry.total_queued > 0
        ? `Would queue ${fmt(dry.total_queued)} pairs (${fmt(dry.total_items)} items) that failed in this job` +
            (webhooks.length ? ` to webhook${webhooks.length > 1 ? "s" : ""} ${webhooks.join(", ")}` : "") +
            "."
        : "The job has no failed pair left to resend.",
    );
    $("failed-queue").disabled = !(dry.total_queued > 0);
  } catch (error) {
    setText("failed-summary", error.message);
  }
}

async function queueFailed() {
  if (!state.failedBody) return;
  $("failed-queue").disabled = true;
  try {
    const job = await api("POST", "/resends", { body: state.failedBody, idempotencyKey: state.failedKey });
    state.failedBody = null;
    state.failedKey = null;
    $("failed-preview").hidden = true;
    await openJob(job.id);
  } catch (error) {
    setText("failed-summary", error.message);
    $("failed-queue").disabled = false;
  }
}

// -- a new resend by filter ---------------------------------------------------------------------------
function resendBody() {
  const event = $("resend-event").value.trim();
  const raw = $("resend-filter").value.trim() || "{}";
  let filter;
  try {
    filter = JSON.parse(raw);
  } catch (error) {
    throw new ApiError(0, [`filter: is not valid JSON (${error.message})`]);
  }
  const body = { event, filter };
  const webhooks = $("resend-webhooks").value.split(",").map((s) => s.trim()).filter(Boolean);
  if (webhooks.length) body.webhook_ids = webhooks;
  return body;
}

async function previewResend(event) {
  event.preventDefault();
  state.resendBody = null;
  $("resend-queue").disabled = true;
  setText("resend-error", "");
  setText("resend-summary", "");
  try {
    const body = resendBody();
    const dry = await api("POST", "/resends", { body: { ...body, dry_run: true } });
    const webhooks = Object.keys(dry.webhooks || {});
    setText(
      "resend-summary",
      `Would queue ${fmt(dry.total_queued)} pairs: ${fmt(dry.total_items)} items × ${webhooks.length} webhook${webhooks.length === 1 ? "" : "s"}` +
        (webhooks.length ? ` (${webhooks.join(", ")})` : "") + ".",
    );
    state.resendBody = JSON.stringify(body);
    // One key per preview: queuing again after an answer that never came cannot queue twice.
    state.resendKey = newIdempotencyKey();
    $("resend-queue").disabled = !(dry.total_queued > 0);
  } catch (error) {
    setText("resend-error", error.message);
  }
}

async function queueResend() {
  let body;
  try {
    body = resendBody();
  } catch (error) {
    setText("resend-error", error.message);
    return;
  }
  // Only what was previewed is queued: an edit since needs a new preview.
  if (JSON.stringify(body) !== state.resendBody) {
    setText("resend-error", "The form changed since its preview: preview it again.");
    $("resend-queue").disabled = true;
    return;
  }
  $("resend-queue").disabled = true;
  try {
    const job = await api("POST", "/resends", { body, idempotencyKey: state.resendKey });
    state.resendBody = null;
    state.resendKey = null;
    setText("resend-summary", `Queued: job ${job.id} (${job.status}).`);
    await openJob(job.id);
  } catch (error) {
    setText("resend-error", error.message);
    $("resend-queue").disabled = false;
  }
}

// -- start -------------------------------------------------------------------------------------------
function jobFromHash() {
  const match = /^#job=([^&]+)$/.exec(window.location.hash);
  return match ? decodeURIComponent(match[1]) : null;
}

function start() {
  showSignedIn(true);
  setText("sign-in-error", "");
  loadJobs();
  const id = jobFromHash();
  if (id) openJob(id, { fromHash: true });
  else $("jobs-title").focus();
}

function wire() {
  $("sign-in-form").addEventListener("submit", signIn);
  $("sign-out").addEventListener("click", () => signOut("Signed out."));
  $("jobs-status").addEventListener("change", () => {
    state.jobsCursor = null;
    state.jobs = [];
    state.jobPages = 1;
    loadJobs();
  });
  $("jobs-refresh").addEventListener("click", () => loadJobs());
  $("jobs-more").addEventListener("click", () => loadJobs({ more: true }));
  $("job-close").addEventListener("click", closeJob);
  $("job-pause").addEventListener("click", () => jobAction("pause"));
  $("job-resume").addEventListener("click", () => jobAction("resume"));
  $("job-cancel").addEventListener("click", () => {
    $("cancel-confirm").hidden = false;
    $("cancel-yes").focus();
  });
  $("cancel-yes").addEventListener("click", () => jobAction("cancel"));
  $("cancel-no").addEventListener("click", () => {
    $("cancel-confirm").hidden = true;
    $("job-cancel").focus();
  });
  $("job-resend-failed").addEventListener("click", previewFailed);
  $("failed-queue").addEventListener("click", queueFailed);
  $("failed-dismiss").addEventListener("click", () => {
    $("failed-preview").hidden = true;
    $("job-resend-failed").focus();
  });
  for (const id of ["deliveries-status", "deliveries-limit"]) {
    $(id).addEventListener("change", () => {
      state.deliveryCursors = [null];
      loadDeliveries();
    });
  }
  $("deliveries-refresh").addEventListener("click", loadDeliveries);
  $("deliveries-next").addEventListener("click", () => {
    if (!state.deliveryNext) return;
    state.deliveryCursors.push(state.deliveryNext);
    loadDeliveries();
  });
  $("deliveries-previous").addEventListener("click", () => {
    if (state.deliveryCursors.length <= 1) return;
    state.deliveryCursors.pop();
    loadDeliveries();
  });
  $("deliveries-first").addEventListener("click", () => {
    state.deliveryCursors = [null];
    loadDeliveries();
  });
  $("resend-form").addEventListener("submit", previewResend);
  $("resend-queue").addEventListener("click", queueResend);
  window.addEventListener("hashchange", () => {
    const id = jobFromHash();
    if (token.get() && id && (!state.job || state.job.id !== id)) openJob(id, { fromHash: true });
  });
  if (token.get()) start();
  else showSignedIn(false);
}

wire();
