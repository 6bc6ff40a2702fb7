/* streamcolor serve: the page. Plain JavaScript, no library, no build step. */
"use strict";

const TOKEN = new URLSearchParams(location.search).get("token");
const $ = (sel) => document.querySelector(sel);

/* ------------------------------------------------------------------ helpers */

class ApiError extends Error {
  constructor(message, status) { super(message); this.status = status; }
}

function withToken(url) {
  if (!TOKEN || !url) return url;
  return url + (url.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(TOKEN);
}

function apiUrl(path) { return path.startsWith("/") ? path.slice(1) : path; }

/** fetch with the token; a 4xx/5xx answer shows its {"error"} in the message bar and throws. */
async function api(path, options = {}) {
  const { quiet, ...init } = options;
  const headers = new Headers(init.headers || {});
  if (TOKEN) headers.set("Authorization", "Bearer " + TOKEN);
  let response;
  try {
    response = await fetch(apiUrl(path), { ...init, headers });
  } catch (err) {
    if (err.name !== "AbortError" && !quiet) showMessage("Network error: " + err.message);
    throw err;
  }
  if (!response.ok) {
    let text = "";
    try {
      const body = await response.clone().json();
      text = body && body.error ? String(body.error) : "";
    } catch (_) {
      try { text = (await response.text()).slice(0, 200); } catch (__) { /* none */ }
    }
    const message = text || `${response.status} ${response.statusText}`;
    if (!quiet) showMessage(message);
    throw new ApiError(message, response.status);
  }
  return response;
}

async function apiJson(path, options = {}) {
  return (await api(path, options)).json();
}

function jsonBody(value) {
  return { body: JSON.stringify(value), headers: { "Content-Type": "application/json" } };
}

let messageTimer = null;
function showMessage(text, kind = "error") {
  const bar = $("#message");
  $("#message-text").textContent = text;
  bar.className = "message" + (kind === "info" ? " info" : "");
  bar.dataset.kind = kind;
  bar.hidden = false;
  clearTimeout(messageTimer);
  if (kind === "info") messageTimer = setTimeout(hideMessage, 4000);
}
function hideMessage() { $("#message").hidden = true; }

function debounce(fn, ms) {
  let timer = null;
  const wrapped = (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
  wrapped.cancel = () => clearTimeout(timer);
  return wrapped;
}

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "class") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children) {
    if (child != null) node.append(child);
  }
  return node;
}

function humanSize(bytes) {
  if (bytes == null) return "";
  const units = ["B", "kB", "MB", "GB", "TB"];
  let i = 0;
  while (bytes >= 1000 && i < units.length - 1) { bytes /= 1000; i++; }
  return (i ? bytes.toFixed(1) : bytes) + " " + units[i];
}

function humanSeconds(s) {
  if (s == null || !isFinite(s)) return "–";
  s = Math.max(0, Math.round(s));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
  if (h) return `${h}h ${String(m).padStart(2, "0")}m`;
  if (m) return `${m}m ${String(sec).padStart(2, "0")}s`;
  return `${sec}s`;
}

function baseName(path) { return String(path || "").split("/").pop(); }

function loadImage(url) {
  return new Promise((resolve, reject) => {
    const img = new Image();
    img.onload = () => resolve(img);
    img.onerror = () => reject(new Error("the browser cannot show this picture"));
    img.src = url;
  });
}

/* ------------------------------------------------------------------ tabs */

function showView(name) {
  for (const tab of document.querySelectorAll(".tab")) {
    const on = tab.dataset.view === name;
    tab.classList.toggle("active", on);
    tab.setAttribute("aria-selected", on ? "true" : "false");
  }
  for (const view of document.querySelectorAll(".view")) {
    view.classList.toggle("active", view.id === "view-" + name);
  }
  if (history.replaceState) history.replaceState(null, "", location.search + "#" + name);
  window.dispatchEvent(new Event("resize"));
}

/* ------------------------------------------------------------------ hints editor */

/**
 * A before/after picture with a draggable divider and a hint overlay: the "before" (grey)
 * is on the left of the divider, the "after" (colour) on the right. Clicking or painting on
 * the picture adds strokes (natural-size coordinates) to `strokes`.
 */
class Editor {
  constructor(stage, ids, onChange) {
    this.stage = stage;
    this.ids = ids;
    this.onChange = onChange;
    this.strokes = [];
    this.split = 0.5;
    this.natural = { w: 0, h: 0 };
    this.showHints = true;

    this.before = el("img", { id: ids.before, class: "before", alt: "original", draggable: "false" });
    this.after = el("img", { id: ids.after, class: "after", alt: "colorized", draggable: "false" });
    this.overlay = el("canvas", { id: ids.overlay, class: "overlay" });
    this.divider = el("div", { class: "divider" });
    this.handle = el("div", { class: "handle", id: ids.handle, title: "Drag to compare" }, "⇆");
    this.ring = el("div", { class: "cursor-ring" });
    this.root = el("div", { class: "compare", id: ids.root },
      this.before, this.after, this.overlay, this.divider, this.handle,
      el("span", { class: "tag left" }, "original"), el("span", { class: "tag right" }, "colour"),
      this.ring);
    this.after.style.visibility = "hidden";
    this.after.addEventListener("load", () => { this.after.style.visibility = "visible"; });
    this.bindPointer();
    window.addEventListener("resize", () => this.fit());
  }

  /** Show a new "before" picture of natural size w x h; strokes are kept by the caller. */
  show(beforeUrl, w, h, strokes) {
    this.natural = { w, h };
    this.strokes = strokes;
    if (!this.root.isConnected) {
      this.stage.replaceChildren(this.root);
    }
    this.before.src = beforeUrl;
    this.after.removeAttribute("src");
    this.after.style.visibility = "hidden";
    this.overlay.width = w;
    this.overlay.height = h;
    const small = Math.max(w, h) < 400;
    this.before.classList.toggle("pixelated", small);
    this.after.classList.toggle("pixelated", small);
    this.fit();
    this.redraw();
  }

  setAfter(url) {
    if (url) this.after.src = url;
    else { this.after.removeAttribute("src"); this.after.style.visibility = "hidden"; }
  }

  fit() {
    const { w, h } = this.natural;
    if (!w || !h || !this.root.isConnected) return;
    const box = this.stage.getBoundingClientRect();
    if (!box.width || !box.height) return;
    const scale = Math.min((box.width - 24) / w, (box.height - 24) / h, 12);
    this.scale = scale;
    this.root.style.width = Math.round(w * scale) + "px";
    this.root.style.height = Math.round(h * scale) + "px";
    this.setSplit(this.split);
  }

  setSplit(fraction) {
    this.split = Math.min(1, Math.max(0, fraction));
    const pct = (this.split * 100).toFixed(2) + "%";
    this.after.style.clipPath = `inset(0 0 0 ${pct})`;
    this.divider.style.left = pct;
    this.handle.style.left = pct;
  }

  toNatural(event) {
    const box = this.root.getBoundingClientRect();
    return [
      (event.clientX - box.left) * this.natural.w / box.width,
      (event.clientY - box.top) * this.natural.h / box.height,
    ];
  }

  brushNatural() {
    const screen = Number($(this.ids.brush).value) || 12;
    const box = this.root.getBoundingClientRect();
    return Math.max(1, screen * this.natural.w / (box.width || this.natural.w));
  }

  bindPointer() {
    let mode = null;
    const moveRing = (event) => {
      const box = this.root.getBoundingClientRect();
      const size = Number($(this.ids.brush).value) || 12;
      Object.assign(this.ring.style, {
        display: mode === "split" ? "none" : "block",
        width: size + "px", height: size + "px",
        left: (event.clientX - box.left - size / 2) + "px",
        top: (event.clientY - box.top - size / 2) + "px",
      });
    };
    this.root.addEventListener("pointerdown", (event) => {
      if (!this.natural.w || event.button !== 0) return;
      event.preventDefault();
      this.root.setPointerCapture(event.pointerId);
      if (event.target === this.handle) {
        mode = "split";
        return;
      }
      mode = "paint";
      this.strokes.push({
        color: $(this.ids.color).value,
        size: this.brushNatural(),
        points: [this.toNatural(event)],
      });
      this.redraw();
      this.onChange();
    });
    this.root.addEventListener("pointermove", (event) => {
      moveRing(event);
      if (mode === "split") {
        const box = this.root.getBoundingClientRect();
        this.setSplit((event.clientX - box.left) / box.width);
      } else if (mode === "paint") {
        this.strokes[this.strokes.length - 1].points.push(this.toNatural(event));
        this.redraw();
        this.onChange();
      }
    });
    const end = () => { mode = null; };
    this.root.addEventListener("pointerup", end);
    this.root.addEventListener("pointercancel", end);
    this.root.addEventListener("pointerleave", () => { this.ring.style.display = "none"; });
  }

  redraw() {
    this.overlay.classList.toggle("off", !$("#show-hints").checked);
    drawStrokes(this.overlay.getContext("2d"), this.strokes, this.overlay.width, this.overlay.height);
  }
}

function drawStrokes(ctx, strokes, w, h) {
  ctx.clearRect(0, 0, w, h);
  ctx.lineCap = "round";
  ctx.lineJoin = "round";
  for (const stroke of strokes) {
    ctx.strokeStyle = ctx.fillStyle = stroke.color;
    ctx.lineWidth = stroke.size;
    const [x0, y0] = stroke.points[0];
    // the clicked pixel itself, whatever the brush size (a 1-pixel circle could blur away)
    ctx.fillRect(Math.floor(x0), Math.floor(y0), 1, 1);
    if (stroke.points.length === 1) {
      ctx.beginPath();
      ctx.arc(x0, y0, stroke.size / 2, 0, Math.PI * 2);
      ctx.fill();
    } else {
      ctx.beginPath();
      ctx.moveTo(x0, y0);
      for (const [x, y] of stroke.points.slice(1)) ctx.lineTo(x, y);
      ctx.stroke();
    }
  }
}

/** The hints picture: RGBA PNG of the natural size, alpha 255 where painted, 0 elsewhere. */
function hintsBlob(strokes, w, h) {
  const canvas = document.createElement("canvas");
  canvas.width = w;
  canvas.height = h;
  const ctx = canvas.getContext("2d");
  drawStrokes(ctx, strokes, w, h);
  const data = ctx.getImageData(0, 0, w, h);
  const px = data.data;
  for (let i = 0; i < px.length; i += 4) {
    if (px[i + 3] >= 96) px[i + 3] = 255;
    else px[i] = px[i + 1] = px[i + 2] = px[i + 3] = 0;
  }
  ctx.putImageData(data, 0, 0);
  return new Promise((resolve) => canvas.toBlob(resolve, "image/png"));
}

/* ------------------------------------------------------------------ info */

let INFO = null;

async function loadInfo() {
  try {
    INFO = await apiJson("/api/info");
  } catch (err) {
    return;
  }
  $("#version").textContent = INFO.version ? "v" + INFO.version : "";
  for (const id of ["#photo-model", "#video-model", "#live-model"]) {
    const select = $(id);
    select.replaceChildren();
    const models = INFO.models || [];
    const def = INFO.default_model;
    select.append(el("option", { value: "", title: def || "" },
                     def ? `${modelLabel(def)} (default)` : "default"));
    for (const name of models) {
      if (name !== def) select.append(el("option", { value: name, title: name }, modelLabel(name)));
    }
  }
  const containers = $("#video-container");
  for (const name of INFO.containers || []) containers.append(el("option", { value: name }, name));
}

/** A model's name, or a model file's name without its folders. */
function modelLabel(name) { return /[\\/]/.test(name) ? baseName(name.replace(/\\/g, "/")) : name; }

function modelOf(selectId) { return $(selectId).value || null; }

/* ------------------------------------------------------------------ photos */

const photos = [];
let current = null;
let photoSerial = 0;

const photoEditor = new Editor($("#photo-stage"),
  { before: "original-img", after: "result-img", overlay: "hint-canvas", handle: "compare-handle",
    root: "photo-compare", color: "#hint-color", brush: "#brush-size" },
  () => schedulePhoto(current));

function schedulePhoto(photo) {
  if (!photo) return;
  photo.setStatus("waiting…", true);
  clearTimeout(photo.timer);
  photo.timer = setTimeout(() => colorizePhoto(photo), 150);
}

async function colorizePhoto(photo) {
  if (photo.controller) photo.controller.abort();
  const controller = new AbortController();
  photo.controller = controller;
  const serial = ++photo.requests;
  const form = new FormData();
  form.append("image", photo.file, photo.name);
  if (photo.strokes.length) {
    form.append("hints", await hintsBlob(photo.strokes, photo.w, photo.h), "hints.png");
  }
  const model = modelOf("#photo-model");
  if (model) form.append("model", model);
  if (controller.signal.aborted) return;
  photo.setStatus("colorizing…", true);
  const started = performance.now();
  try {
    const response = await api("/api/colorize", { method: "POST", body: form, signal: controller.signal });
    const blob = await response.blob();
    if (serial !== photo.requests) return;  // a newer request is on its way
    if (photo.resultUrl) URL.revokeObjectURL(photo.resultUrl);
    photo.resultBlob = blob;
    photo.resultUrl = URL.createObjectURL(blob);
    photo.thumbAfter.src = photo.resultUrl;
    photo.failed = false;
    photo.setStatus(`colorized in ${Math.round(performance.now() - started)} ms` +
      (photo.strokes.length ? ` · ${photo.strokes.length} hint${photo.strokes.length > 1 ? "s" : ""}` : ""));
    if (photo === current) {
      photoEditor.setAfter(photo.resultUrl);
      updateDownload();
    }
  } catch (err) {
    if (err.name === "AbortError") return;
    if (serial !== photo.requests) return;
    photo.failed = true;
    photo.setStatus("failed: " + err.message);
  } finally {
    if (photo.controller === controller) photo.controller = null;
  }
}

function updateDownload() {
  const link = $("#download-btn");
  if (current && current.resultUrl) {
    const dot = current.name.lastIndexOf(".");
    const stem = dot > 0 ? current.name.slice(0, dot) : current.name;
    const ext = dot > 0 ? current.name.slice(dot) : "";
    link.href = current.resultUrl;
    link.download = stem + "_color" + ext;
    link.classList.remove("disabled");
    link.removeAttribute("aria-disabled");
  } else {
    link.href = "#";
    link.classList.add("disabled");
    link.setAttribute("aria-disabled", "true");
  }
}

function selectPhoto(photo) {
  current = photo;
  for (const p of photos) p.thumb.classList.toggle("active", p === photo);
  $("#photo-empty").hidden = true;
  $("#photo-editor").hidden = false;
  $("#photo-name").textContent = `${photo.name} · ${photo.w}×${photo.h}`;
  $("#photo-status").textContent = photo.statusText || "";
  $("#photo-status").classList.toggle("busy", !!photo.busy);
  photoEditor.show(photo.originalUrl, photo.w, photo.h, photo.strokes);
  photoEditor.setAfter(photo.resultUrl);
  updateDownload();
}

async function addPhotos(files) {
  let first = null;
  for (const file of files) {
    if (file.type && !file.type.startsWith("image/")) {
      showMessage(`${file.name} is not a picture`);
      continue;
    }
    const originalUrl = URL.createObjectURL(file);
    let img;
    try {
      img = await loadImage(originalUrl);
    } catch (err) {
      // the browser cannot show it (TIFF, ...): still send it, the server may read it
      img = { naturalWidth: 0, naturalHeight: 0 };
    }
    const photo = {
      id: ++photoSerial, file, name: file.name, originalUrl,
      w: img.naturalWidth, h: img.naturalHeight, strokes: [], requests: 0,
      resultUrl: null, resultBlob: null, controller: null, timer: null,
    };
    photo.thumbAfter = el("img", { alt: "" });
    photo.stateLine = el("div", { class: "state" });
    photo.thumb = el("div", { class: "thumb", id: "photo-thumb-" + photo.id, title: file.name,
                              onclick: () => selectPhoto(photo) },
      el("div", { class: "pair" }, el("img", { alt: "", src: originalUrl }), photo.thumbAfter),
      el("div", { class: "name" }, file.name), photo.stateLine);
    photo.setStatus = (text, busy = false) => {
      photo.statusText = text;
      photo.busy = busy;
      photo.stateLine.textContent = busy ? "…" : (photo.failed ? "failed" : "");
      photo.stateLine.classList.toggle("failed", !!photo.failed);
      if (photo === current) {
        $("#photo-status").textContent = text;
        $("#photo-status").classList.toggle("busy", busy);
      }
    };
    photos.push(photo);
    $("#photo-list").append(photo.thumb);
    first = first || photo;
    colorizePhoto(photo);
  }
  if (first) selectPhoto(first);
}

function undoHint() {
  if (activeView() === "videos") {
    if (frame.strokes.length) { frame.strokes.pop(); frameEditor.redraw(); scheduleFrameHints(); }
    return;
  }
  if (!current || !current.strokes.length) return;
  current.strokes.pop();
  photoEditor.redraw();
  schedulePhoto(current);
}

function clearHints() {
  if (!current || !current.strokes.length) return;
  current.strokes.length = 0;
  photoEditor.redraw();
  schedulePhoto(current);
}

async function loadReference(file) {
  const url = URL.createObjectURL(file);
  let img;
  try { img = await loadImage(url); } catch (err) { showMessage(`${file.name}: ${err.message}`); return; }
  const canvas = $("#ref-canvas");
  const scale = Math.min(1, 246 / img.naturalWidth, 300 / img.naturalHeight);
  canvas.width = Math.max(1, Math.round(img.naturalWidth * scale));
  canvas.height = Math.max(1, Math.round(img.naturalHeight * scale));
  canvas.getContext("2d").drawImage(img, 0, 0, canvas.width, canvas.height);
  canvas.hidden = false;
  URL.revokeObjectURL(url);
}

function pickReferenceColour(event) {
  const canvas = $("#ref-canvas");
  const box = canvas.getBoundingClientRect();
  const x = Math.floor((event.clientX - box.left) * canvas.width / box.width);
  const y = Math.floor((event.clientY - box.top) * canvas.height / box.height);
  const [r, g, b] = canvas.getContext("2d").getImageData(x, y, 1, 1).data;
  setHintColour("#" + [r, g, b].map((v) => v.toString(16).padStart(2, "0")).join(""));
}

function setHintColour(hex) {
  $("#hint-color").value = hex;
  $("#hint-color-value").textContent = hex;
}

/* ------------------------------------------------------------------ videos */

let filesDir = "";
const video = { path: null, frames: 0, refs: {} };
const frame = { index: 0, strokes: [], greyBlob: null, greyUrl: null, colourBlob: null,
                colourUrl: null, hintedBlob: null, hintedFor: null, controller: null,
                hintController: null, w: 0, h: 0 };
const frameStrokes = new Map();   // frame index -> strokes, for the chosen video

const frameEditor = new Editor($("#frame-stage"),
  { before: "frame-orig", after: "frame-color", overlay: "frame-hints", handle: "frame-handle",
    root: "frame-compare", color: "#frame-hint-color", brush: "#frame-brush" },
  () => scheduleFrameHints());

async function loadFiles(dir = filesDir) {
  let listing;
  try {
    listing = await apiJson("/api/files?dir=" + encodeURIComponent(dir));
  } catch (err) {
    return;
  }
  filesDir = listing.dir || "";
  $("#files-dir").textContent = "/" + filesDir;
  $("#files-up").disabled = !filesDir;
  const list = $("#files-list");
  list.replaceChildren();
  const entries = [...(listing.entries || [])].sort((a, b) =>
    (a.kind === "dir" ? 0 : 1) - (b.kind === "dir" ? 0 : 1) || a.name.localeCompare(b.name));
  if (!entries.length) list.append(el("li", { class: "other" }, "(empty folder)"));
  const icons = { dir: "▸", video: "▶", image: "◩", other: "·" };
  for (const entry of entries) {
    const item = el("li", { class: entry.kind, dataset: { path: entry.path, kind: entry.kind },
                            title: entry.path },
      el("span", { class: "icon" }, icons[entry.kind] || "·"),
      el("span", { class: "fname" }, entry.name),
      el("span", { class: "size" }, entry.kind === "dir" ? "" : humanSize(entry.size)));
    if (entry.path === video.path) item.classList.add("selected");
    if (entry.kind === "dir") item.addEventListener("click", () => loadFiles(entry.path));
    else if (entry.kind === "video") item.addEventListener("click", () => selectVideo(entry.path));
    list.append(item);
  }
}

function parentDir(dir) {
  const parts = dir.split("/").filter(Boolean);
  parts.pop();
  return parts.join("/");
}

async function uploadVideo(file) {
  const form = new FormData();
  form.append("file", file, file.name);
  $("#upload-progress").textContent = `uploading ${file.name}…`;
  try {
    const answer = await apiJson("/api/upload", { method: "POST", body: form });
    $("#upload-progress").textContent = `uploaded to ${answer.path}`;
    await loadFiles(parentDir(answer.path));
    await selectVideo(answer.path);
  } catch (err) {
    $("#upload-progress").textContent = "";
  }
}

async function selectVideo(path) {
  video.path = path;
  video.frames = 0;
  video.refs = {};
  frameStrokes.clear();
  renderRefs();
  $("#video-path").textContent = path;
  for (const li of document.querySelectorAll("#files-list li")) {
    li.classList.toggle("selected", li.dataset.path === path);
  }
  $("#start-job").disabled = false;
  $("#estimate").textContent = "estimating…";
  const slider = $("#frame-slider");
  slider.value = 0;
  loadFrame(0);
  const model = modelOf("#video-model");
  try {
    const est = await apiJson("/api/estimate?path=" + encodeURIComponent(path) +
                              (model ? "&model=" + encodeURIComponent(model) : ""));
    if (video.path !== path) return;
    video.frames = est.frames || 0;
    slider.max = Math.max(0, video.frames - 1);
    slider.disabled = video.frames < 2;
    $("#estimate").textContent =
      `${est.frames} frames · ${humanSeconds(est.duration)} · ` +
      `≈${Number(est.fps_estimate || 0).toFixed(1)} fps → about ${humanSeconds(est.seconds_estimate)}`;
  } catch (err) {
    if (video.path === path) $("#estimate").textContent = "";
  }
}

function frameUrl(index, colorize) {
  const model = modelOf("#video-model");
  return `/api/frame?path=${encodeURIComponent(video.path)}&index=${index}&colorize=${colorize ? 1 : 0}` +
         (model ? "&model=" + encodeURIComponent(model) : "");
}

async function loadFrame(index) {
  if (!video.path) return;
  if (frame.controller) frame.controller.abort();
  if (frame.hintController) frame.hintController.abort();
  const controller = new AbortController();
  frame.controller = controller;
  frame.index = index;
  $("#frame-index").textContent = index;
  $("#use-reference").disabled = true;
  try {
    const [grey, colour] = await Promise.all([
      api(frameUrl(index, false), { signal: controller.signal }).then((r) => r.blob()),
      api(frameUrl(index, true), { signal: controller.signal }).then((r) => r.blob()),
    ]);
    if (controller !== frame.controller) return;
    for (const url of [frame.greyUrl, frame.colourUrl]) if (url) URL.revokeObjectURL(url);
    frame.greyBlob = grey;
    frame.colourBlob = colour;
    frame.greyUrl = URL.createObjectURL(grey);
    frame.colourUrl = URL.createObjectURL(colour);
    frame.hintedBlob = null;
    const img = await loadImage(frame.greyUrl);
    frame.w = img.naturalWidth;
    frame.h = img.naturalHeight;
    if (!frameStrokes.has(index)) frameStrokes.set(index, []);
    frame.strokes = frameStrokes.get(index);
    frameEditor.show(frame.greyUrl, frame.w, frame.h, frame.strokes);
    frameEditor.setAfter(frame.colourUrl);
    $("#use-reference").disabled = false;
    if (frame.strokes.length) colorizeFrameHints();
  } catch (err) {
    /* shown in the message bar */
  }
}

const loadFrameSoon = debounce(loadFrame, 150);
const scheduleFrameHints = debounce(() => colorizeFrameHints(), 150);

/** The preview frame with its hints, colorized by POST /api/colorize -> blob. */
async function postFrame(signal) {
  const form = new FormData();
  form.append("image", frame.greyBlob, `frame${frame.index}.png`);
  if (frame.strokes.length) form.append("hints", await hintsBlob(frame.strokes, frame.w, frame.h), "hints.png");
  const model = modelOf("#video-model");
  if (model) form.append("model", model);
  return (await api("/api/colorize", { method: "POST", body: form, signal })).blob();
}

function showFrameResult(blob) {
  frame.hintedBlob = blob;
  if (frame.hintedUrl) URL.revokeObjectURL(frame.hintedUrl);
  frame.hintedUrl = URL.createObjectURL(blob);
  frameEditor.setAfter(frame.hintedUrl);
}

/** Re-colorize the preview frame after a hint change (a newer change cancels it). */
async function colorizeFrameHints() {
  if (!frame.greyBlob) return;
  if (frame.hintController) frame.hintController.abort();
  const controller = new AbortController();
  frame.hintController = controller;
  const index = frame.index;
  try {
    const blob = await postFrame(controller.signal);
    if (controller === frame.hintController && index === frame.index) showFrameResult(blob);
  } catch (err) {
    /* aborted, or shown in the message bar */
  }
}

async function useAsReference() {
  if (!video.path || !frame.greyBlob) return;
  scheduleFrameHints.cancel();
  if (frame.hintController) frame.hintController.abort();
  const button = $("#use-reference");
  button.disabled = true;
  const index = frame.index;
  try {
    const blob = await postFrame();
    if (index === frame.index) showFrameResult(blob);
    const form = new FormData();
    form.append("image", blob, `reference${index}.png`);
    form.append("path", video.path);
    form.append("index", String(index));
    const answer = await apiJson("/api/references", { method: "POST", body: form });
    video.refs[String(index)] = answer.path;
    renderRefs();
    showMessage(`Frame ${index} will guide the next job.`, "info");
  } catch (err) {
    /* shown */
  } finally {
    button.disabled = false;
  }
}

function renderRefs() {
  const box = $("#refs-list");
  box.replaceChildren();
  for (const index of Object.keys(video.refs).sort((a, b) => a - b)) {
    box.append(el("span", { class: "chip", dataset: { index } }, `reference @ frame ${index}`,
      el("button", { title: "Remove", onclick: () => { delete video.refs[index]; renderRefs(); } }, "×")));
  }
}

async function startJob() {
  if (!video.path) return;
  const strength = $("#temporal-strength").value;
  const refs = Object.keys(video.refs).length ? { ...video.refs } : null;
  const request = {
    input: video.path,
    output: $("#video-output").value.trim() || null,
    model: modelOf("#video-model"),
    temporal_strength: strength === "" ? null : Number(strength),
    container: $("#video-container").value || null,
    references: refs,
  };
  const button = $("#start-job");
  button.disabled = true;
  try {
    const job = await apiJson("/api/jobs", { method: "POST", ...jsonBody(request) });
    video.refs = {};
    renderRefs();
    showMessage(`Job ${job.id} queued: ${baseName(job.output || "")}`, "info");
    await pollJobs();
  } catch (err) {
    /* shown */
  } finally {
    button.disabled = !video.path;
  }
}

const FINISHED = new Set(["done", "failed", "cancelled", "interrupted"]);

function jobRow(job) {
  let row = document.getElementById("job-" + job.id);
  if (row) return row;
  row = el("tr", { id: "job-" + job.id, class: "job", dataset: { id: job.id, input: job.input } },
    el("td", { class: "input" }),
    el("td", {}, el("span", { class: "state" })),
    el("td", {}, el("div", { class: "progress" },
      el("div", { class: "bar" }, el("div", { class: "fill" })), el("span", { class: "pct mono" }))),
    el("td", { class: "fps mono" }),
    el("td", { class: "eta mono" }),
    el("td", { class: "actions" },
      el("button", { class: "small danger cancel", onclick: () => cancelJob(job.id) }, "Cancel"),
      el("button", { class: "small resume", onclick: () => resumeJob(job.id) }, "Resume")));
  return row;
}

const seenStates = new Map();   // job id -> last state seen

function renderJobs(jobs) {
  const body = $("#jobs-body");
  if (!jobs.length) {
    body.replaceChildren(el("tr", { class: "none" }, el("td", { colspan: "6" }, "No jobs yet.")));
    return;
  }
  const rows = [];
  for (const job of [...jobs].reverse()) {
    const row = jobRow(job);
    const total = job.frames_total || 0;
    let pct = total ? Math.min(100, 100 * (job.frames_done || 0) / total) : 0;
    if (job.state === "done") pct = 100;
    row.dataset.state = job.state;
    row.dataset.progress = pct.toFixed(0);
    const [input, state, progress, fps, eta, actions] = row.children;
    input.replaceChildren(baseName(job.input),
      el("div", { class: "out mono" }, "→ " + baseName(job.output || "")));
    input.title = `${job.input} → ${job.output || ""}`;
    if (job.state === "done" && seenStates.has(job.id) && seenStates.get(job.id) !== "done") {
      loadFiles();  // the new film shows in the file browser
    }
    seenStates.set(job.id, job.state);
    const stateSpan = state.firstChild;
    stateSpan.textContent = job.state;
    stateSpan.className = "state " + job.state;
    stateSpan.title = job.error || "";
    progress.querySelector(".fill").style.width = pct + "%";
    progress.querySelector(".pct").textContent =
      `${pct.toFixed(0)}%` + (total ? ` · ${job.frames_done || 0}/${total}` : "");
    fps.textContent = job.state === "running" && job.fps ? Number(job.fps).toFixed(1) : "–";
    eta.textContent = job.state === "running" ? humanSeconds(job.eta_seconds) : (job.state === "done" ? "done" : "–");
    actions.querySelector(".cancel").hidden = !(job.state === "queued" || job.state === "running");
    actions.querySelector(".resume").hidden = !(job.state === "cancelled" || job.state === "failed" ||
                                                job.state === "interrupted");
    let err = row.nextElementSibling && row.nextElementSibling.classList.contains("job-error")
      ? row.nextElementSibling : null;
    rows.push(row);
    if (job.error && job.state === "failed") {
      err = err || el("tr", { class: "job-error" }, el("td", { colspan: "6", class: "err" }));
      err.firstChild.textContent = job.error;
      rows.push(err);
    }
  }
  body.replaceChildren(...rows);
}

let jobsBusy = false;
async function pollJobs() {
  if (jobsBusy) return;
  jobsBusy = true;
  try {
    const answer = await apiJson("/api/jobs", { quiet: true });
    renderJobs(answer.jobs || []);
  } catch (err) {
    /* polled again in a second; errors from actions are shown */
  } finally {
    jobsBusy = false;
  }
}

async function cancelJob(id) {
  try { await api(`/api/jobs/${encodeURIComponent(id)}`, { method: "DELETE" }); } catch (err) { /* shown */ }
  pollJobs();
}

async function resumeJob(id) {
  try { await api(`/api/jobs/${encodeURIComponent(id)}/start`, { method: "POST" }); } catch (err) { /* shown */ }
  pollJobs();
}

/* ------------------------------------------------------------------ live */

const live = { id: null, timer: null };

async function startLive() {
  const source = $("#live-source").value.trim();
  if (!source) { showMessage("Give a live source (rtsp://…, lavfi:…, /dev/video0 or a file)"); return; }
  if (live.id) await stopLive();
  $("#live-start").disabled = true;
  const request = { source, model: modelOf("#live-model"), record: $("#live-record").value.trim() || null };
  try {
    const answer = await apiJson("/api/live", { method: "POST", ...jsonBody(request) });
    live.id = answer.id;
    const img = $("#live-img");
    img.src = withToken(answer.stream || `/api/live/${answer.id}/mjpeg`);
    img.hidden = false;
    $("#live-empty").hidden = true;
    $("#live-stop").disabled = false;
    $("#live-state").textContent = "starting";
    clearInterval(live.timer);
    live.timer = setInterval(pollLive, 1000);
    pollLive();
  } catch (err) {
    $("#live-start").disabled = false;
  }
}

async function pollLive() {
  if (!live.id) return;
  const id = live.id;
  let s;
  try {
    s = await apiJson(`/api/live/${encodeURIComponent(id)}`, { quiet: true });
  } catch (err) {
    if (err.status === 404) liveEnded("gone");
    return;
  }
  if (id !== live.id) return;
  $("#live-state").textContent = s.state || "–";
  $("#live-fps").textContent = s.fps != null ? Number(s.fps).toFixed(1) : "–";
  $("#live-latency").textContent = s.latency_ms != null ? Math.round(s.latency_ms) + " ms" : "–";
  $("#live-drops").textContent = s.drops != null ? s.drops : "–";
  $("#live-frames").textContent = s.frames != null ? s.frames : "–";
  $("#live-recording").textContent = s.recording || "–";
  if (s.error) showMessage(`Live: ${s.error}`);
  if (["stopped", "failed", "done", "error", "finished", "ended"].includes(s.state)) liveEnded(s.state);
}

function liveEnded(state) {
  clearInterval(live.timer);
  live.timer = null;
  live.id = null;
  $("#live-state").textContent = state;
  $("#live-start").disabled = false;
  $("#live-stop").disabled = true;
}

async function stopLive() {
  const id = live.id;
  if (!id) return;
  const img = $("#live-img");
  img.removeAttribute("src");
  img.hidden = true;
  $("#live-empty").hidden = false;
  try { await api(`/api/live/${encodeURIComponent(id)}`, { method: "DELETE" }); } catch (err) { /* shown */ }
  liveEnded("stopped");
}

/* ------------------------------------------------------------------ wiring */

function activeView() {
  const view = document.querySelector(".view.active");
  return view ? view.id.replace("view-", "") : "photos";
}

function wire() {
  for (const tab of document.querySelectorAll(".tab")) {
    tab.addEventListener("click", () => showView(tab.dataset.view));
  }
  $("#message-close").addEventListener("click", hideMessage);

  // photos
  $("#photo-input").addEventListener("change", (event) => {
    addPhotos([...event.target.files]);
    event.target.value = "";
  });
  $("#hint-color").addEventListener("input", (e) => { $("#hint-color-value").textContent = e.target.value; });
  $("#brush-size").addEventListener("input", (e) => { $("#brush-size-value").textContent = e.target.value; });
  $("#undo-btn").addEventListener("click", undoHint);
  $("#clear-hints").addEventListener("click", clearHints);
  $("#show-hints").addEventListener("change", () => { photoEditor.redraw(); frameEditor.redraw(); });
  $("#photo-model").addEventListener("change", () => { for (const p of photos) schedulePhoto(p); });
  $("#ref-input").addEventListener("change", (e) => { if (e.target.files[0]) loadReference(e.target.files[0]); });
  $("#ref-canvas").addEventListener("click", pickReferenceColour);
  $("#download-btn").addEventListener("click", (e) => { if (!current || !current.resultUrl) e.preventDefault(); });

  // drag and drop: pictures on Photos, a video upload on Videos
  let depth = 0;
  document.addEventListener("dragenter", (e) => { e.preventDefault(); depth++; document.body.classList.add("dragging"); });
  document.addEventListener("dragleave", () => { if (--depth <= 0) { depth = 0; document.body.classList.remove("dragging"); } });
  document.addEventListener("dragover", (e) => e.preventDefault());
  document.addEventListener("drop", (e) => {
    e.preventDefault();
    depth = 0;
    document.body.classList.remove("dragging");
    const files = [...(e.dataTransfer ? e.dataTransfer.files : [])];
    if (!files.length) return;
    if (activeView() === "videos") uploadVideo(files[0]);
    else { if (activeView() !== "photos") showView("photos"); addPhotos(files); }
  });

  document.addEventListener("keydown", (e) => {
    const typing = e.target.matches && e.target.matches("input[type=text], textarea, select");
    if ((e.ctrlKey || e.metaKey) && !e.shiftKey && e.key.toLowerCase() === "z" && !typing) {
      e.preventDefault();
      undoHint();
    }
  });

  // videos
  $("#files-up").addEventListener("click", () => loadFiles(parentDir(filesDir)));
  $("#files-refresh").addEventListener("click", () => loadFiles());
  $("#video-upload").addEventListener("change", (e) => {
    if (e.target.files[0]) uploadVideo(e.target.files[0]);
    e.target.value = "";
  });
  $("#frame-slider").addEventListener("input", (e) => {
    $("#frame-index").textContent = e.target.value;
    loadFrameSoon(Number(e.target.value));
  });
  $("#video-model").addEventListener("change", () => { if (video.path) selectVideo(video.path); });
  $("#use-reference").addEventListener("click", useAsReference);
  $("#frame-undo").addEventListener("click", undoHint);
  $("#start-job").addEventListener("click", startJob);

  // live
  $("#live-start").addEventListener("click", startLive);
  $("#live-img").addEventListener("error", () => {
    if (live.id && $("#live-img").getAttribute("src")) showMessage("The live stream could not be shown (see its state)");
  });
  $("#live-stop").addEventListener("click", stopLive);
  $("#live-source").addEventListener("keydown", (e) => { if (e.key === "Enter") startLive(); });
  window.addEventListener("pagehide", () => {
    if (!live.id) return;
    const headers = TOKEN ? { Authorization: "Bearer " + TOKEN } : {};
    fetch(apiUrl(`/api/live/${encodeURIComponent(live.id)}`), { method: "DELETE", headers, keepalive: true });
  });

  updateDownload();
  const start = location.hash.replace("#", "");
  if (["photos", "videos", "live"].includes(start)) showView(start);
  loadInfo();
  loadFiles("");
  pollJobs();
  setInterval(pollJobs, 1000);
}

wire();
