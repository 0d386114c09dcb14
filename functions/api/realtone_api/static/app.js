// RealTone web UI: plain ES module, no build step. Talks to the API of the same origin and
// uploads audio straight to S3 with the presigned POST the API hands out.

const $ = (id) => document.getElementById(id);
const SESSION_KEY = "realtone.session";
const TERMINAL = new Set(["completed", "failed", "expired"]);

const STATUS_WORDS = {
  awaiting_upload: "Waiting for the upload",
  queued: "Queued for analysis",
  processing: "Analysing…",
  completed: "Done",
  failed: "The analysis failed",
  expired: "The upload never arrived, so this analysis expired",
};
const VERDICTS = {
  fake: ["Likely synthetic voice", "Most of the speech in this recording sounds machine-made. Treat the voice as fake unless you can confirm it another way."],
  likely_fake: ["Possibly synthetic", "Parts of the recording sound machine-made. It may be edited or partly generated; check the red windows below."],
  real: ["Sounds like a real voice", "No part of the recording looks synthetic to the model. That is evidence, not proof: good fakes can pass."],
  inconclusive: ["Can't tell", "There was not enough speech to judge, or the score sits too close to the line."],
};
const ERRORS = {
  unsupported_format: "This file is not an audio format RealTone can read. Use WAV, MP3, OGG, FLAC, M4A/AAC or WebM.",
  corrupt_audio: "The file is damaged or is not really audio, so it could not be analysed.",
  empty_audio: "The recording contains no sound at all.",
  too_short: "The recording is too short to analyse — it needs at least half a second of audio.",
  too_long: "The recording is longer than the 30-minute limit.",
  too_large: "The file is larger than the upload limit.",
  upload_missing: "The uploaded file is missing from storage. Please upload it again.",
  unsupported_sample_rate: "The recording's sample rate is outside 8–384 kHz, so it cannot be analysed.",
  quota_exceeded: "You have used today's allowance of analysed audio. Try again tomorrow.",
  audio_replaced: "Another file was uploaded in place of the analysed one, so it is not played back.",
  audio_deleted: "The audio is no longer kept (your account's retention); the result stays.",
  not_audio: "This upload is not audio, so there is nothing to play.",
  internal_error: "Something went wrong on our side while analysing. Please try again later.",
  rate_limited: "Too many requests — please wait a moment and try again.",
};

// ---------------------------------------------------------------- session and API

let session = JSON.parse(localStorage.getItem(SESSION_KEY) || "null");

function saveSession(s) {
  session = s;
  if (s) localStorage.setItem(SESSION_KEY, JSON.stringify(s));
  else localStorage.removeItem(SESSION_KEY);
  renderNav();
}

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function toError(response) {
  try {
    const body = await response.json();
    return new ApiError(response.status, body.error.code, body.error.message);
  } catch {
    return new ApiError(response.status, "http_error", `HTTP ${response.status}`);
  }
}

// One refresh at a time across every tab of this origin: refresh tokens rotate and a
// spent one presented again ends the session, so two tabs must never both spend it.
// navigator.locks where the page is a secure context; otherwise a short-lived lock in
// localStorage (claimed, then re-read after a pause in case another tab wrote at once).
async function withRefreshLock(fn) {
  if (navigator.locks) return navigator.locks.request("realtone.refresh", fn);
  const LOCK = "realtone.refresh-lock";
  const me = `${Date.now()}-${Math.random()}`;
  for (let tries = 0; tries < 100; tries++) {
    const held = JSON.parse(localStorage.getItem(LOCK) || "null");
    if (!held || held.until < Date.now()) {
      localStorage.setItem(LOCK, JSON.stringify({ by: me, until: Date.now() + 10000 }));
      await sleep(50);
      if (JSON.parse(localStorage.getItem(LOCK) || "null")?.by === me) {
        try {
          return await fn();
        } finally {
          localStorage.removeItem(LOCK);
        }
      }
    }
    await sleep(100);
  }
  return fn();
}

// Trade the refresh token for a new pair, unless another tab already did since
// `usedAccess` was sent: then its pair (in localStorage) is adopted.
async function refresh(usedAccess) {
  if (!session) return false;
  return withRefreshLock(async () => {
    const stored = JSON.parse(localStorage.getItem(SESSION_KEY) || "null");
    if (!stored) return false; // logged out meanwhile
    if (stored.access !== usedAccess) {
      saveSession(stored);
      return true;
    }
    const response = await fetch("/v1/auth/refresh", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ refresh_token: stored.refresh }),
    });
    if (!response.ok) return false;
    const tokens = await response.json();
    saveSession({ ...stored, access: tokens.access_token, refresh: tokens.refresh_token });
    return true;
  });
}

// Ends the session on the server (its refresh tokens stop working), then here.
async function logout() {
  const ending = session;
  if (ending) {
    try {
      await fetch("/v1/auth/logout", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ refresh_token: ending.refresh }),
      });
    } catch {
      // Offline: the local session still goes; the refresh token expires on its own.
    }
  }
  saveSession(null);
  location.hash = "#/login";
}

function sessionExpired() {
  saveSession(null);
  flash("Your session expired, please log in again.");
  location.hash = "#/login";
}

// fetch with the bearer token; one transparent refresh on 401 (refresh tokens rotate).
async function api(path, options = {}, { raw = false } = {}) {
  const send = () => fetch(path, {
    ...options,
    headers: { ...(options.headers || {}), ...(session ? { Authorization: `Bearer ${session.access}` } : {}) },
  });
  const usedAccess = session && session.access;
  let response = await send();
  if (response.status === 401 && session) {
    if (await refresh(usedAccess)) response = await send();
    if (response.status === 401) {
      sessionExpired();
      throw new ApiError(401, "invalid_token", "Your session expired, please log in again.");
    }
  }
  if (raw) return response;
  if (!response.ok) throw await toError(response);
  return response.status === 204 ? null : response.json();
}

const postJson = (path, body, extra = {}) =>
  api(path, { method: "POST", headers: { "Content-Type": "application/json", ...extra }, body: JSON.stringify(body) });

// ---------------------------------------------------------------- small helpers

function flash(message) {
  const box = $("flash");
  box.textContent = message;
  box.hidden = !message;
}

function announce(message) {
  $("announce").textContent = message;
}

function showError(id, error) {
  const el = $(id);
  el.textContent = error ? (ERRORS[error.code] || error.message) : "";
  el.hidden = !error;
}

function fmtSeconds(s) {
  const m = Math.floor(s / 60);
  const r = s - m * 60;
  return m ? `${m}:${r.toFixed(1).padStart(4, "0")}` : `${r.toFixed(1)} s`;
}

function fmtBytes(n) {
  return n > 1e6 ? `${(n / 1e6).toFixed(1)} MB` : `${Math.max(1, Math.round(n / 1e3))} kB`;
}

// green → amber → red as the score rises
function scoreColour(score) {
  const stops = [[0, [31, 157, 96]], [0.5, [217, 154, 30]], [1, [210, 57, 75]]];
  const [a, b] = score <= 0.5 ? [stops[0], stops[1]] : [stops[1], stops[2]];
  const t = (score - a[0]) / (b[0] - a[0]);
  const c = a[1].map((v, i) => Math.round(v + (b[1][i] - v) * t));
  return `rgb(${c.join(",")})`;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------- navigation

const VIEWS = ["login", "analyze", "result", "history", "account"];
let viewToken = 0; // bumps on every navigation, so stale pollers stop

function show(view) {
  for (const v of VIEWS) $(`view-${v}`).hidden = v !== view;
  for (const a of document.querySelectorAll("[data-nav]")) {
    if (a.dataset.nav === view) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  $("main").focus({ preventScroll: true });
}

function renderNav() {
  $("nav").hidden = !session;
  $("who").textContent = session ? session.email : "";
}

async function route() {
  viewToken += 1;
  const hash = location.hash || "#/analyze";
  if (!session && hash !== "#/login") {
    location.hash = "#/login";
    return;
  }
  const match = hash.match(/^#\/analyses\/([0-9a-f-]+)$/);
  if (hash === "#/login") { setAuthMode(false); show("login"); }
  else if (hash === "#/history") { show("history"); watchHistory(viewToken); }
  else if (hash === "#/account") { show("account"); loadAccount(); }
  else if (match) { show("result"); openResult(match[1], viewToken); }
  else { show("analyze"); resetUpload(); describeModel(); describeRetention(); }
}

// Whether what is uploaded now is kept, said before it is uploaded.
async function describeRetention() {
  try {
    const me = await api("/v1/account");
    $("retention-line").textContent = me.retention_days === "zero"
      ? "Zero-retention is on: your audio is deleted as soon as it is analysed; only the result is kept."
      : `Your audio is kept ${me.retention_days} days after upload, then deleted (the result stays). Change it under Account.`;
  } catch {
    $("retention-line").textContent = "";
  }
}

// The detector the service runs, named before anything is uploaded (from /health).
async function describeModel() {
  try {
    const response = await fetch("/health");
    const card = (await response.json()).model || {};
    if (!card.name) { $("model-line").textContent = "The scorer has not started yet."; return; }
    const state = card.trained
      ? `trained${card.calibrated ? " and calibrated" : ""}`
      : "UNTRAINED: its scores mean nothing";
    const members = (card.members || []).map((m) => m.family).join(" + ") || card.family;
    $("model-line").textContent =
      `Detector: ${card.name} ${card.version} (${members}; ${state}).` +
      (card.trained ? " Measured on classic and open synthesis; never on commercial voice clones." : "");
  } catch {
    $("model-line").textContent = "";
  }
}

// ---------------------------------------------------------------- log in / sign up

let registering = false;

function setAuthMode(register) {
  registering = register;
  $("auth-title").textContent = register ? "Create an account" : "Log in";
  $("auth-submit").textContent = register ? "Create account" : "Log in";
  $("auth-switch-text").textContent = register ? "Have an account?" : "New here?";
  $("auth-switch").textContent = register ? "Log in instead" : "Create an account";
  $("password").autocomplete = register ? "new-password" : "current-password";
  $("password-hint").hidden = !register;
  showError("auth-error", null);
}

async function submitAuth(event) {
  event.preventDefault();
  const email = $("email").value.trim();
  const password = $("password").value;
  showError("auth-error", null);
  if (registering && password.length < 8) {
    showError("auth-error", { message: "Choose a password of at least 8 characters." });
    return;
  }
  $("auth-submit").disabled = true;
  try {
    // Registering answers alike whether or not the email already had an account (nobody
    // learns which emails do); the login that follows is what tells.
    if (registering) await postJson("/v1/auth/register", { email, password });
    const tokens = await postJson("/v1/auth/login", { email, password });
    saveSession({ email, access: tokens.access_token, refresh: tokens.refresh_token });
    flash("");
    $("password").value = "";
    location.hash = "#/analyze";
  } catch (error) {
    const messages = {
      invalid_credentials: registering
        ? "This password does not log in. If you already have an account with this email, log in with its password."
        : "Wrong email or password.",
      validation_error: registering ? "Enter a valid email and a password of at least 8 characters." : "Enter your email and password.",
    };
    showError("auth-error", { message: messages[error.code] || ERRORS[error.code] || error.message });
  } finally {
    $("auth-submit").disabled = false;
  }
}

// ---------------------------------------------------------------- upload

function resetUpload() {
  $("upload-box").hidden = true;
  $("upload-progress").value = 0;
  showError("analyze-error", null);
}

function uploadToS3(upload, file, onProgress) {
  return new Promise((resolve, reject) => {
    const form = new FormData();
    for (const [key, value] of Object.entries(upload.fields)) form.append(key, value);
    form.append("file", file);
    const xhr = new XMLHttpRequest();
    xhr.open("POST", upload.url);
    xhr.upload.onprogress = (e) => e.lengthComputable && onProgress(e.loaded / e.total);
    xhr.onload = () => {
      if (xhr.status >= 200 && xhr.status < 300) return resolve();
      const reason = (xhr.responseText.match(/<Message>(.*?)<\/Message>/) || [])[1];
      reject(new ApiError(xhr.status, "upload_refused", `The storage service refused the upload${reason ? `: ${reason}` : ""}.`));
    };
    xhr.onerror = () => reject(new ApiError(0, "upload_failed", "The upload failed: check your connection and try again."));
    xhr.send(form);
  });
}

async function analyzeFile(file) {
  resetUpload();
  if (!file || !file.size) {
    showError("analyze-error", { message: "That file is empty." });
    return;
  }
  $("upload-box").hidden = false;
  $("upload-name").textContent = file.name;
  $("upload-size").textContent = fmtBytes(file.size);
  $("upload-state").textContent = "Preparing the upload…";
  try {
    const created = await postJson("/v1/analyses", {
      filename: file.name,
      content_type: file.type || "application/octet-stream",
      size_bytes: file.size,
    });
    $("upload-state").textContent = "Uploading…";
    announce(`Uploading ${file.name}`);
    await uploadToS3(created.upload, file, (fraction) => {
      $("upload-progress").value = Math.round(fraction * 100);
      $("upload-state").textContent = `Uploading… ${Math.round(fraction * 100)} %`;
    });
    $("upload-progress").value = 100;
    $("upload-state").textContent = "Uploaded";
    announce("Upload complete");
    location.hash = `#/analyses/${created.analysis.id}`;
  } catch (error) {
    $("upload-state").textContent = "";
    showError("analyze-error", error);
  }
}

// Several files: up to three upload at once under one progress bar; then the history,
// where each one's verdict appears as it completes.
async function analyzeFiles(files) {
  resetUpload();
  const empty = files.filter((f) => !f.size).map((f) => f.name);
  files = files.filter((f) => f.size);
  const total = files.reduce((sum, f) => sum + f.size, 0);
  const sent = new Map();
  const failed = empty.map((name) => `${name}: that file is empty`);
  let done = 0;
  const show = () => {
    const bytes = [...sent.values()].reduce((a, b) => a + b, 0);
    $("upload-progress").value = total ? Math.round((bytes / total) * 100) : 100;
    $("upload-state").textContent = `Uploading… ${done} of ${files.length} files sent`;
  };
  $("upload-box").hidden = false;
  $("upload-name").textContent = `${files.length} files`;
  $("upload-size").textContent = fmtBytes(total);
  announce(`Uploading ${files.length} files`);
  show();
  const queue = [...files];
  const worker = async () => {
    for (let file = queue.shift(); file; file = queue.shift()) {
      try {
        const created = await postJson("/v1/analyses", {
          filename: file.name,
          content_type: file.type || "application/octet-stream",
          size_bytes: file.size,
        });
        await uploadToS3(created.upload, file, (fraction) => {
          sent.set(file, fraction * file.size);
          show();
        });
        sent.set(file, file.size);
      } catch (error) {
        sent.set(file, file.size);
        failed.push(`${file.name}: ${ERRORS[error.code] || error.message}`);
      }
      done += 1;
      show();
    }
  };
  await Promise.all([worker(), worker(), worker()]);
  if (failed.length) {
    showError("analyze-error", { message: `Not analysed — ${failed.join("; ")}` });
    if (failed.length === files.length + empty.length) return;
    flash(`${files.length + empty.length - failed.length} files sent; see the history for their results.`);
  }
  announce("Uploads complete");
  if (!failed.length) location.hash = "#/history";
}

// ---------------------------------------------------------------- recording

let recorder = null;
let recordTimer = null;

async function toggleRecording() {
  const button = $("record");
  if (recorder) {
    recorder.stop();
    return;
  }
  if (!navigator.mediaDevices || !window.MediaRecorder) {
    showError("analyze-error", { message: "This browser cannot record audio." });
    return;
  }
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ audio: true });
  } catch {
    showError("analyze-error", { message: "Microphone access was refused, so nothing can be recorded." });
    return;
  }
  const type = MediaRecorder.isTypeSupported("audio/webm;codecs=opus") ? "audio/webm;codecs=opus" : "";
  const parts = [];
  recorder = new MediaRecorder(stream, type ? { mimeType: type } : {});
  recorder.ondataavailable = (e) => e.data.size && parts.push(e.data);
  recorder.onstop = () => {
    stream.getTracks().forEach((t) => t.stop());
    clearInterval(recordTimer);
    button.setAttribute("aria-pressed", "false");
    button.textContent = "● Record a voice note";
    $("record-time").hidden = true;
    const blob = new Blob(parts, { type: recorder.mimeType || "audio/webm" });
    recorder = null;
    const stamp = new Date().toISOString().slice(0, 19).replace(/[:T]/g, "-");
    analyzeFile(new File([blob], `voice-note-${stamp}.webm`, { type: "audio/webm" }));
  };
  const started = Date.now();
  recorder.start(250);
  button.setAttribute("aria-pressed", "true");
  button.textContent = "■ Stop recording";
  $("record-time").hidden = false;
  $("record-time").textContent = "0:00";
  recordTimer = setInterval(() => {
    const s = Math.floor((Date.now() - started) / 1000);
    $("record-time").textContent = `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
  }, 250);
  announce("Recording");
}

// ---------------------------------------------------------------- result

async function openResult(id, token) {
  $("result-body").hidden = true;
  $("live-timeline").hidden = true;
  $("live-timeline").replaceChildren();
  $("result-title").textContent = "Result";
  $("result-status").hidden = false;
  $("result-status").classList.remove("error");
  $("result-status").textContent = "Loading…";
  // Live from the event stream; by polling where streams are not available.
  const analysis = (await followEvents(id, token)) || (await pollResult(id, token));
  if (token !== viewToken || !analysis) return;
  $("live-timeline").hidden = true;
  loadDeliveries(analysis.id, token);
  if (analysis.status === "completed") {
    $("result-status").hidden = true;
    renderResult(analysis);
  } else if (analysis.status === "failed") {
    $("result-status").textContent = ERRORS[analysis.error?.code] || analysis.error?.message || "The analysis failed.";
    $("result-status").classList.add("error");
  } else if (analysis.status === "expired") {
    $("result-status").textContent = STATUS_WORDS.expired || "expired";
  }
}

// Status words, and while a long file is scored its windows so far, on the live timeline.
function showProgress(analysis) {
  $("result-title").textContent = analysis.filename;
  const words = STATUS_WORDS[analysis.status] || analysis.status;
  if ($("result-status").textContent.split(" ·")[0] !== words) announce(words);
  const p = analysis.progress;
  const chunks = analysis.chunks || [];
  $("result-status").textContent = p
    ? `${words} · ${p.windows_done} of ${p.windows_total} windows (${fmtSeconds(chunks.at(-1)?.end_time_seconds || 0)} of audio)`
    : words;
  const live = $("live-timeline");
  if (p && chunks.length > live.children.length) {
    live.append(...chunks.slice(live.children.length).map((c) => windowButton(c, null)));
    live.hidden = false;
  }
}

// Resolves to the terminal document, or to null when the stream cannot be used (no
// EventSource, refused, or dropped for good): the caller then polls.
async function followEvents(id, token) {
  if (!window.EventSource) return null;
  let stream;
  try {
    stream = await postJson(`/v1/analyses/${id}/stream-token`, {});
  } catch {
    return null;
  }
  if (token !== viewToken) return null;
  return new Promise((resolve) => {
    const source = new EventSource(stream.url);
    let head = null;
    const chunks = [];
    const done = (value) => {
      source.close();
      resolve(value);
    };
    const stale = () => token !== viewToken && (done(null), true);
    source.addEventListener("status", (e) => {
      if (stale()) return;
      head = JSON.parse(e.data);
      showProgress({ ...head, chunks });
    });
    source.addEventListener("windows", (e) => {
      if (stale()) return;
      const data = JSON.parse(e.data);
      chunks.push(...data.chunks);
      showProgress({ ...head, progress: data.progress, chunks });
    });
    for (const name of ["completed", "failed"]) {
      source.addEventListener(name, (e) => done(JSON.parse(e.data)));
    }
    // A dropped connection is retried by the browser itself (with Last-Event-ID); a
    // refused one (expired token, deleted analysis) closes the source: poll instead.
    source.onerror = () => {
      if (stale()) return;
      if (source.readyState === EventSource.CLOSED) done(null);
    };
  });
}

async function pollResult(id, token) {
  let etag = null;
  let analysis = null;
  while (token === viewToken) {
    let response;
    try {
      response = await api(`/v1/analyses/${id}`, { headers: etag ? { "If-None-Match": etag } : {} }, { raw: true });
    } catch (error) {
      if (error.code !== "invalid_token") $("result-status").textContent = "Connection lost; retrying…";
      await sleep(2000);
      continue;
    }
    if (response.status === 404) {
      $("result-status").textContent = "This analysis does not exist (or was deleted).";
      return null;
    }
    if (response.ok) {
      analysis = await response.json();
      etag = response.headers.get("ETag");
      showProgress(analysis);
      if (TERMINAL.has(analysis.status)) return analysis;
    } else if (response.status !== 304) {
      const error = await toError(response);
      $("result-status").textContent = ERRORS[error.code] || error.message;
      await sleep(3000);
      continue;
    }
    const wait = parseFloat(response.headers.get("Retry-After") || "1");
    await sleep(Math.max(0.25, wait) * 1000);
  }
  return null;
}

// Why a window or a file could not be judged (DESIGN §7: reason), in plain words.
const REASONS = {
  no_speech: "no speech (silence or too quiet)",
  music_or_noise: "music, tones or noise, not speech",
  clipped: "speech too distorted (clipped) to judge",
  too_short: "too little speech to judge",
};

// Speakers' colours: apart from the score scale (green to red) and from each other.
const SPEAKER_COLOURS = ["#2b6cb0", "#805ad5", "#dd6b20", "#319795", "#975a16", "#b83280", "#4a5568"];
function speakerColour(speaker) {
  return SPEAKER_COLOURS[speaker % SPEAKER_COLOURS.length];
}

// One window of a timeline; ``play`` (null on the live timeline) starts the player there.
function windowButton(c, play) {
  const b = document.createElement("button");
  b.type = "button";
  b.className = "window" + (c.score != null ? "" : " unvoiced");
  b.dataset.start = c.start_time_seconds;
  b.dataset.end = c.end_time_seconds;
  b.style.flexGrow = String(c.end_time_seconds - c.start_time_seconds);
  if (c.score != null) b.style.background = scoreColour(c.score);
  let what = c.score != null
    ? `${Math.round(c.score * 100)} % synthetic`
    : REASONS[c.reason] || "no speech";
  if (c.speaker != null) {
    what += `, speaker ${c.speaker}`;
    b.style.borderTop = `6px solid ${speakerColour(c.speaker)}`;
    b.dataset.speaker = c.speaker;
  } else if (c.overlap) {
    what += ", two voices";
    b.classList.add("overlap");
  }
  const span = `${fmtSeconds(c.start_time_seconds)} to ${fmtSeconds(c.end_time_seconds)}`;
  b.setAttribute("aria-label", `Window ${c.chunk_id + 1}, ${span}: ${what}.${play ? " Play from here." : ""}`);
  b.title = `${fmtSeconds(c.start_time_seconds)}–${fmtSeconds(c.end_time_seconds)}: ${what}`;
  const tick = document.createElement("span");
  tick.className = "tick";
  tick.textContent = fmtSeconds(c.start_time_seconds);
  b.append(tick);
  if (play) b.addEventListener("click", play);
  else b.disabled = true;
  return b;
}

function renderResult(a) {
  const [label, baseExplain] = VERDICTS[a.summary.verdict];
  const explain = a.summary.reason
    ? `Nothing could be judged: ${REASONS[a.summary.reason] || a.summary.reason}.`
    : baseExplain;
  const card = $("verdict-card");
  card.className = `card verdict ${a.summary.verdict}`;
  $("verdict-label").textContent = label;
  $("verdict-explain").textContent = explain;
  $("verdict-score").textContent = a.summary.score == null ? "No overall score" :
    `Overall score ${Math.round(a.summary.score * 100)} % synthetic · ${a.chunks.filter((c) => c.score != null).length} of ${a.chunks.length} windows judged`;
  $("untrained-warning").hidden = Boolean(a.model?.trained);
  renderSpeakers(a.summary, a.id);

  const timeline = $("timeline");
  timeline.replaceChildren();
  // Audio that is no longer kept cannot be played: the windows only say what they are.
  timeline.append(...a.chunks.map((c) => windowButton(c, a.audio_deleted ? null : () => {
    const player = $("player");
    player.currentTime = c.start_time_seconds;
    highlight(c.start_time_seconds);
    player.play().catch(() => {});
  })));

  const details = [
    ["File", a.filename],
    ["Duration", a.duration_seconds != null ? fmtSeconds(a.duration_seconds) : "–"],
    ["Analysed in", a.processing_ms != null ? `${(a.processing_ms / 1000).toFixed(2)} s` : "–"],
    ["Model", a.model ? `${a.model.name} ${a.model.version}` : "–"],
    ["Trained model", a.model?.trained ? "yes" : "no (development model)"],
    ["Calibrated scores", a.model?.calibrated ? "yes" : "no"],
    ["Model fingerprint", a.model ? a.model.sha256.slice(0, 16) : "–"],
    ["Detector", a.model ? ((a.model.members || []).map((m) => m.family).join(" + ") || a.model.family || "–") : "–"],
    ["Trained on", a.model?.trained_on || "–"],
    ["Runs as", a.model?.runtime || "–"],
    ["Decision threshold", `${Math.round(a.summary.threshold * 100)} %`],
  ];
  $("details").replaceChildren(...details.flatMap(([k, v]) => {
    const dt = document.createElement("dt");
    dt.textContent = k;
    const dd = document.createElement("dd");
    dd.textContent = v;
    return [dt, dd];
  }));
  $("result-body").hidden = false;
  $("timeline-play-hint").hidden = Boolean(a.audio_deleted);
  if (a.audio_deleted) audioGone(a.audio_deleted);
  else loadAudio(a.id);
}

// Who speaks: a verdict per voice, and the alert when an enrolled voice is imitated.
function renderSpeakers(summary, analysisId) {
  const alert = summary.impersonation;
  $("impersonation").hidden = !alert;
  if (alert) {
    $("impersonation").textContent =
      `⚠ Speaker ${alert.speaker} sounds like ${alert.name} (similarity ${Math.round(alert.similarity * 100)} %), and the voice is synthetic.`;
  }
  const speakers = summary.speakers || [];
  $("speakers-card").hidden = speakers.length === 0;
  $("speakers").replaceChildren(...speakers.map((s) => {
    const li = document.createElement("li");
    li.dataset.speaker = s.speaker;
    const swatch = document.createElement("i");
    swatch.className = "swatch";
    swatch.style.background = speakerColour(s.speaker);
    const name = document.createElement("strong");
    name.textContent = `Speaker ${s.speaker}`;
    const verdict = document.createElement("span");
    verdict.className = `badge ${s.verdict}`;
    verdict.textContent = VERDICTS[s.verdict][0];
    const facts = document.createElement("span");
    const score = s.score == null ? "no score" : `${Math.round(s.score * 100)} % synthetic`;
    facts.textContent = ` ${fmtSeconds(s.seconds)} (${Math.round(s.share * 100)} % of the audio) · ${score}`;
    li.append(swatch, name, " ", verdict, facts);
    if (s.enrolled_voice) {
      const known = document.createElement("span");
      known.className = "enrolled";
      known.textContent = ` · sounds like ${s.enrolled_voice.name} (${Math.round(s.enrolled_voice.similarity * 100)} %)`;
      li.append(known);
    }
    const actions = document.createElement("div");
    actions.className = "speaker-actions";
    const remember = document.createElement("button");
    remember.type = "button";
    remember.className = "secondary";
    remember.textContent = "Remember this voice";
    remember.setAttribute("aria-label", `Remember the voice of speaker ${s.speaker}`);
    remember.addEventListener("click", () => enrollSpeaker(analysisId, s.speaker, li));
    const find = document.createElement("button");
    find.type = "button";
    find.className = "secondary";
    find.textContent = "Find this voice";
    find.setAttribute("aria-label", `Find the voice of speaker ${s.speaker} in your other recordings`);
    find.addEventListener("click", () => findSpeaker(analysisId, s.speaker, li));
    const out = document.createElement("p");
    out.className = "speaker-out";
    out.setAttribute("role", "status");
    actions.append(remember, find);
    li.append(actions, out);
    return li;
  }));
}

// Enrol a speaker's voice under a name: later recordings are checked against it.
async function enrollSpeaker(analysisId, speaker, li) {
  const out = li.querySelector(".speaker-out");
  const name = (window.prompt("Name this voice (for example: our CEO, mum)") || "").trim();
  if (!name) return;
  try {
    await postJson("/v1/voices", { name, sources: [{ analysis_id: analysisId, speaker }] });
    out.textContent = `Remembered as “${name}”. New recordings are checked against this voice; a synthetic voice that sounds like it raises an alert.`;
  } catch (error) {
    out.textContent = ERRORS[error.code] || error.message;
  }
}

// The other recordings of yours in which this speaker's voice appears, newest first.
async function findSpeaker(analysisId, speaker, li) {
  const out = li.querySelector(".speaker-out");
  out.textContent = "Searching…";
  try {
    const page = await postJson("/v1/voices/search", { analysis_id: analysisId, speaker });
    if (!page.items.length) {
      out.textContent = "This voice is not in any other recording of yours.";
      return;
    }
    const list = document.createElement("ul");
    list.className = "voice-hits";
    list.append(...page.items.map((h) => {
      const item = document.createElement("li");
      const link = document.createElement("a");
      link.href = `#/analyses/${h.analysis_id}`;
      link.textContent = h.filename;
      item.append(link, ` · ${new Date(h.created_at).toLocaleString()} · speaker ${h.speaker}, similarity ${Math.round(h.similarity * 100)} %`);
      return item;
    }));
    out.replaceChildren(`Also speaks in ${page.items.length}${page.next_cursor ? "+" : ""} recording(s):`, list);
  } catch (error) {
    out.textContent = ERRORS[error.code] || error.message;
  }
}

// Enrolled voices (Account view): each can be forgotten.
async function loadVoices() {
  try {
    const page = await api("/v1/voices");
    $("voices-empty").hidden = page.items.length > 0;
    $("voices").replaceChildren(...page.items.map((v) => {
      const li = document.createElement("li");
      const name = document.createElement("strong");
      name.textContent = v.name;
      const forget = document.createElement("button");
      forget.type = "button";
      forget.className = "secondary";
      forget.textContent = "Forget";
      forget.setAttribute("aria-label", `Forget the voice ${v.name}`);
      forget.addEventListener("click", async () => {
        try {
          await api(`/v1/voices/${v.id}`, { method: "DELETE" });
          loadVoices();
        } catch (error) {
          showError("voices-error", error);
        }
      });
      li.append(name, ` · enrolled ${new Date(v.created_at).toLocaleDateString()} `, forget);
      return li;
    }));
  } catch (error) {
    showError("voices-error", error);
  }
}

// No audio to play (retention): a sentence instead of the player.
function audioGone(deleted) {
  const days = deleted?.retention_days;
  $("audio-gone").textContent = deleted?.reason === "zero_retention"
    ? "Audio not kept: zero-retention. It was deleted as soon as it was analysed; the result stays."
    : days
      ? `Audio deleted after ${days} day${days === 1 ? "" : "s"} (your retention setting); the result stays.`
      : ERRORS.audio_deleted;
  $("audio-gone").hidden = false;
  $("player").hidden = true;
  $("player").removeAttribute("src");
}

// Webhooks: the delivery log of a finished analysis, refreshed while a delivery is pending.
async function loadDeliveries(id, token) {
  $("deliveries-card").hidden = true;
  for (let round = 0; round < 60 && token === viewToken; round++) {
    let items;
    try {
      ({ items } = await api(`/v1/analyses/${id}/deliveries`));
    } catch {
      return;
    }
    if (token !== viewToken) return;
    renderDeliveries(items);
    if (!items.some((d) => d.status === "pending")) return;
    await sleep(round < 5 ? 1000 : 5000);
  }
}

function renderDeliveries(items) {
  const list = $("deliveries");
  list.replaceChildren(...items.map((d) => {
    const li = document.createElement("li");
    const head = document.createElement("p");
    const words = { pending: "retrying", succeeded: "delivered", failed: "failed" }[d.status] || d.status;
    head.textContent = `${d.event} → ${d.url}: ${words}`;
    head.className = `delivery ${d.status}`;
    const tries = document.createElement("ol");
    tries.replaceChildren(...d.attempts.map((a) => {
      const t = document.createElement("li");
      const answer = [a.status_code ? `HTTP ${a.status_code}` : "", a.error || ""].filter(Boolean).join(" ");
      const next = a.next_retry_at ? ` · next try ${new Date(a.next_retry_at).toLocaleTimeString()}` : "";
      t.textContent = `${new Date(a.started_at).toLocaleTimeString()}: ${answer} (${a.duration_ms} ms)${next}`;
      return t;
    }));
    li.append(head, tries);
    return li;
  }));
  $("deliveries-card").hidden = items.length === 0;
}

async function loadAudio(id) {
  $("audio-gone").hidden = true;
  $("player").hidden = false;
  try {
    const { url } = await api(`/v1/analyses/${id}/audio`);
    $("player").src = url;
  } catch (error) {
    $("player").removeAttribute("src");
    // Deleted just as the result was read: the API says why.
    if (error.code === "audio_deleted") audioGone(null);
  }
}

function highlight(time) {
  for (const b of $("timeline").children) {
    const on = time >= parseFloat(b.dataset.start) && time < parseFloat(b.dataset.end);
    b.classList.toggle("playing", on);
    if (on) b.setAttribute("aria-current", "true");
    else b.removeAttribute("aria-current");
  }
}

// ---------------------------------------------------------------- account

function showRetention(value) {
  const zero = value === "zero";
  $("retention-zero-choice").checked = zero;
  $("retention-days-choice").checked = !zero;
  if (!zero) $("retention-days").value = value;
  else if (!$("retention-days").value) $("retention-days").value = 30;
}

async function loadAccount() {
  showError("retention-error", null);
  showError("delete-account-error", null);
  $("retention-state").textContent = "";
  try {
    const me = await api("/v1/account");
    showRetention(me.retention_days);
    loadVoices();
  } catch (error) {
    showError("retention-error", error);
  }
}

async function saveRetention(event) {
  event.preventDefault();
  showError("retention-error", null);
  $("retention-state").textContent = "";
  let value = "zero";
  if (!$("retention-zero-choice").checked) {
    value = Number($("retention-days").value);
    if (!Number.isInteger(value) || value < 1 || value > 3650) {
      showError("retention-error", { message: "Choose a whole number of days from 1 to 3650, or zero-retention." });
      return;
    }
  }
  $("retention-save").disabled = true;
  try {
    const me = await api("/v1/account", {
      method: "PATCH",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ retention_days: value }),
    });
    showRetention(me.retention_days);
    $("retention-state").textContent = me.retention_days === "zero"
      ? "Saved: zero-retention. Audio is deleted as soon as it is analysed."
      : `Saved: audio is kept ${me.retention_days} days.`;
    announce($("retention-state").textContent);
  } catch (error) {
    showError("retention-error", error);
  } finally {
    $("retention-save").disabled = false;
  }
}

async function deleteAccount() {
  showError("delete-account-error", null);
  const who = session ? session.email : "this account";
  if (!confirm(`Delete ${who} with all its analyses and audio? This cannot be undone.`)) return;
  $("delete-account").disabled = true;
  try {
    await api("/v1/account", { method: "DELETE" });
    saveSession(null);
    flash("Your account and all its analyses and audio were deleted.");
    location.hash = "#/login";
  } catch (error) {
    showError("delete-account-error", error);
  } finally {
    $("delete-account").disabled = false;
  }
}

// ---------------------------------------------------------------- history

let historyCursor = null;
let historyPaged = false; // a later page was opened: stop refreshing the first

async function loadHistory(fresh) {
  historyPaged = !fresh;
  const query = new URLSearchParams({ limit: "20" });
  if (!fresh && historyCursor) query.set("cursor", historyCursor);
  let page;
  try {
    page = await api(`/v1/analyses?${query}`);
  } catch (error) {
    flash(ERRORS[error.code] || error.message);
    return;
  }
  if (fresh) $("history-list").replaceChildren();
  historyCursor = page.next_cursor;
  $("history-more").hidden = !historyCursor;
  for (const a of page.items) $("history-list").append(historyItem(a));
  $("history-empty").hidden = $("history-list").children.length > 0;
}

// The first page, again every 2 s while something on it is still being analysed (and no
// further page was opened): results appear as they complete.
async function watchHistory(token) {
  await loadHistory(true);
  while (token === viewToken && !historyPaged) {
    const items = [...$("history-list").children];
    if (!items.some((li) => !TERMINAL.has(li.dataset.status))) return;
    await sleep(2000);
    if (token !== viewToken || historyPaged) return;
    await loadHistory(true);
  }
}

function historyItem(a) {
  const li = document.createElement("li");
  li.dataset.status = a.status;
  const left = document.createElement("div");
  const link = document.createElement("a");
  link.href = `#/analyses/${a.id}`;
  link.textContent = a.filename;
  const meta = document.createElement("div");
  meta.className = "meta";
  meta.textContent = `${new Date(a.created_at).toLocaleString()} · ${STATUS_WORDS[a.status] || a.status}`;
  left.append(link, meta);
  const right = document.createElement("div");
  const badge = document.createElement("span");
  const kind = a.summary?.verdict || (a.status === "failed" ? "failed" : "");
  badge.className = `badge ${kind}`;
  badge.textContent = a.summary ? VERDICTS[a.summary.verdict][0] : STATUS_WORDS[a.status] || a.status;
  const del = document.createElement("button");
  del.type = "button";
  del.className = "danger";
  del.textContent = "Delete";
  del.setAttribute("aria-label", `Delete ${a.filename}`);
  del.addEventListener("click", async () => {
    if (!confirm(`Delete "${a.filename}" and its audio? This cannot be undone.`)) return;
    try {
      await api(`/v1/analyses/${a.id}`, { method: "DELETE" });
      li.remove();
      announce(`${a.filename} deleted`);
      $("history-empty").hidden = $("history-list").children.length > 0;
    } catch (error) {
      flash(ERRORS[error.code] || error.message);
    }
  });
  right.append(badge, document.createTextNode(" "), del);
  li.append(left, right);
  return li;
}

// ---------------------------------------------------------------- wiring

function wire() {
  $("auth-form").addEventListener("submit", submitAuth);
  $("auth-switch").addEventListener("click", () => setAuthMode(!registering));
  $("logout").addEventListener("click", logout);
  // Another tab refreshed the session, or logged out: follow it.
  window.addEventListener("storage", (e) => {
    if (e.key !== SESSION_KEY) return;
    session = JSON.parse(e.newValue || "null");
    renderNav();
    if (!session) location.hash = "#/login";
  });
  const analyzeChosen = (list) => {
    const files = [...list];
    if (files.length > 1) analyzeFiles(files);
    else if (files.length) analyzeFile(files[0]);
  };
  $("file-input").addEventListener("change", (e) => {
    analyzeChosen(e.target.files);
    e.target.value = "";
  });
  const zone = $("dropzone");
  zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    zone.classList.remove("over");
    analyzeChosen(e.dataTransfer.files);
  });
  $("record").addEventListener("click", toggleRecording);
  $("history-more").addEventListener("click", () => loadHistory(false));
  $("retention-form").addEventListener("submit", saveRetention);
  $("retention-days").addEventListener("focus", () => { $("retention-days-choice").checked = true; });
  $("delete-account").addEventListener("click", deleteAccount);
  $("player").addEventListener("timeupdate", (e) => highlight(e.target.currentTime));
  window.addEventListener("hashchange", route);
  renderNav();
  route();
}

wire();
