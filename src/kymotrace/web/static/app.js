/* kymotrace web app: the page's behaviour. Plain JavaScript, no libraries, nothing from other sites.
 *
 * Drop (or choose) files -> POST /api/jobs -> poll GET /api/jobs/{id}?brief=1 -> for each finished
 * file, GET /api/jobs/{id}/files/{i} once and show its overlay, plots, table and downloads.
 * Re-run: POST /api/jobs/{id}/rerun with the current settings (no new upload).
 */
"use strict";

(function () {
  const $ = (sel, root) => (root || document).querySelector(sel);
  const SVG_NS = "http://www.w3.org/2000/svg";
  const POLL_MS = 400;

  const state = {
    config: null,
    jobId: null,
    jobStatus: null,
    timer: null,
    cards: new Map(), // file index -> {el, loaded, status}
    thresholdTouched: false,
    busy: false,
  };

  const el = {
    dropzone: $("#dropzone"),
    input: $("#file-input"),
    threshold: $("#threshold"),
    thresholdValue: $("#threshold-value"),
    thresholdSource: $("#threshold-source"),
    thresholdReset: $("#threshold-reset"),
    anterograde: $("#anterograde"),
    pixelSize: $("#pixel-size"),
    frameInterval: $("#frame-interval"),
    rerun: $("#rerun"),
    downloadAll: $("#download-all"),
    job: $("#job"),
    jobStatus: $("#job-status"),
    jobText: $("#job-text"),
    jobProgress: $("#job-progress"),
    message: $("#message"),
    results: $("#results"),
    emptyHint: $("#empty-hint"),
    template: $("#file-template"),
    version: $("#version"),
    movieBox: $("#movie-box"),
    movieInput: $("#movie-input"),
    moviePath: $("#movie-path"),
    movieWidth: $("#movie-width"),
    movieChannel: $("#movie-channel"),
    movieGo: $("#movie-go"),
  };

  // ------------------------------------------------------------------ helpers

  async function api(path, options) {
    const resp = await fetch(path, options);
    let body = null;
    try { body = await resp.json(); } catch (e) { body = null; }
    if (!resp.ok) {
      let detail = body && body.detail !== undefined ? body.detail : resp.statusText;
      if (typeof detail !== "string") {
        detail = Array.isArray(detail) ? detail.map((d) => (d.loc ? d.loc.join(".") + ": " : "") + d.msg).join("; ") : JSON.stringify(detail);
      }
      const err = new Error(detail || "HTTP " + resp.status);
      err.status = resp.status;
      throw err;
    }
    return body;
  }

  function showMessage(text, kind) {
    el.message.textContent = text;
    el.message.className = "message " + (kind || "error");
    el.message.hidden = !text;
  }

  function fmt(v, digits) {
    if (v === null || v === undefined || v === "") return "";
    if (typeof v === "boolean") return v ? "yes" : "no";
    if (typeof v === "number") {
      if (Number.isInteger(v)) return String(v);
      return v.toFixed(digits === undefined ? 2 : digits);
    }
    return String(v);
  }

  function currentMode() {
    const m = document.querySelector('input[name="mode"]:checked');
    return m ? m.value : "auto";
  }

  function tuned(mode) {
    const t = (state.config && state.config.thresholds) || {};
    return mode === "uni" ? t.uni : mode === "bi" ? t.bi : null;
  }

  // ------------------------------------------------------------------ threshold

  function updateThresholdUI() {
    const mode = currentMode();
    const t = (state.config && state.config.thresholds) || {};
    if (!state.thresholdTouched) {
      const v = tuned(mode) !== null && tuned(mode) !== undefined ? tuned(mode) : t.bi;
      if (v !== undefined) el.threshold.value = v;
      el.thresholdSource.textContent = mode === "auto" && t.uni !== undefined
        ? "model's tuned value (uni " + fmt(t.uni) + ", bi " + fmt(t.bi) + ")"
        : "model's tuned value";
      el.thresholdSource.className = "badge";
      el.thresholdReset.hidden = true;
      el.thresholdValue.textContent = mode === "auto" ? "auto" : fmt(Number(el.threshold.value));
    } else {
      el.thresholdValue.textContent = fmt(Number(el.threshold.value));
      el.thresholdSource.textContent = "yours";
      el.thresholdSource.className = "badge user";
      el.thresholdReset.hidden = false;
    }
  }

  function settingsForm(form) {
    const fd = form || new FormData();
    // every field is sent, so a re-run takes exactly what the page shows ("default": the model's
    // tuned threshold; "none": the calibration from the file, if any)
    fd.append("threshold", state.thresholdTouched ? el.threshold.value : "default");
    fd.append("mode", currentMode());
    fd.append("anterograde", el.anterograde.value);
    fd.append("pixel_size", el.pixelSize.value.trim() || "none");
    fd.append("frame_interval", el.frameInterval.value.trim() || "none");
    return fd;
  }

  // ------------------------------------------------------------------ jobs

  function uploadFiles(files, movie) {
    if ((!files || !files.length) && !movie) return;
    files = files || [];
    if (state.busy) { showMessage("Still uploading the previous files; wait a moment.", "info"); return; }
    const cfg = state.config || {};
    if (cfg.max_files && files.length > cfg.max_files) {
      showMessage(files.length + " files at once; this server takes at most " + cfg.max_files + " per job.");
      return;
    }
    let total = movie ? movie.file.size : 0;
    for (const f of files) total += f.size;
    if (cfg.max_upload_mb && total > cfg.max_upload_mb * 1048576) {
      showMessage("These files are " + (total / 1048576).toFixed(1) + " MB together; this server takes at most " + fmt(cfg.max_upload_mb, 1) + " MB per upload.");
      return;
    }
    const fd = new FormData();
    for (const f of files) fd.append("files", f, f.name);
    if (movie) {
      fd.append("movie", movie.file, movie.file.name);
      fd.append("path", movie.path);
      fd.append("line_width", movie.width);
      if (movie.channel !== "") fd.append("channel", movie.channel);
    }
    settingsForm(fd);
    const count = files.length + (movie ? 1 : 0);
    showMessage("");
    resetJobView();
    state.busy = true;
    setJobBar("running", "Uploading " + count + " file" + (count > 1 ? "s" : "") + "…", 0);
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/api/jobs");
    xhr.responseType = "json";
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable) setJobBar("running", "Uploading… " + Math.round((100 * e.loaded) / e.total) + " %", e.loaded / e.total);
    };
    xhr.onload = () => {
      state.busy = false;
      const body = xhr.response || {};
      if (xhr.status === 202 && body.job_id) {
        startJob(body.job_id);
      } else {
        setJobBar("failed", "Upload refused", 1);
        showMessage(typeof body.detail === "string" ? body.detail : "The upload failed (HTTP " + xhr.status + ").");
      }
    };
    xhr.onerror = () => {
      state.busy = false;
      setJobBar("failed", "Upload failed", 1);
      showMessage("The upload failed: the server could not be reached.");
    };
    xhr.send(fd);
  }

  async function rerun() {
    if (!state.jobId) return;
    el.rerun.disabled = true;
    try {
      const body = await api("/api/jobs/" + encodeURIComponent(state.jobId) + "/rerun", { method: "POST", body: settingsForm() });
      showMessage("");
      resetJobView();
      startJob(body.job_id);
    } catch (e) {
      showMessage(e.status === 404 ? "This job has expired; drop the files again." : e.message);
      el.rerun.disabled = false;
    }
  }

  function resetJobView() {
    if (state.timer) clearTimeout(state.timer);
    state.timer = null;
    state.cards.clear();
    for (const c of el.results.querySelectorAll(".card")) c.remove();
    el.emptyHint.hidden = true;
    el.downloadAll.setAttribute("aria-disabled", "true");
    el.downloadAll.href = "#";
  }

  function startJob(jobId) {
    state.jobId = jobId;
    state.jobStatus = "queued";
    document.body.dataset.jobId = jobId;
    document.body.dataset.jobStatus = "queued";
    el.rerun.disabled = true;
    poll();
  }

  function setJobBar(status, text, fraction) {
    el.job.hidden = false;
    el.jobStatus.textContent = status;
    el.jobStatus.className = "pill " + status;
    el.jobText.textContent = text;
    const bar = el.jobProgress.firstElementChild;
    el.jobProgress.classList.toggle("indeterminate", fraction === null);
    bar.style.width = fraction === null ? "" : Math.round(100 * Math.max(0, Math.min(1, fraction))) + "%";
  }

  async function poll() {
    const jobId = state.jobId;
    let job;
    try {
      job = await api("/api/jobs/" + encodeURIComponent(jobId) + "?brief=1");
    } catch (e) {
      if (jobId !== state.jobId) return;
      setJobBar("failed", e.status === 404 ? "This job has expired" : "Lost contact with the server", 1);
      showMessage(e.status === 404 ? "This job is no longer on the server; drop the files again." : e.message);
      return;
    }
    if (jobId !== state.jobId) return; // a newer job replaced this one
    const n = job.files.length;
    const c = job.counts;
    const finished = c.done + c.failed;
    const text = finished + " of " + n + " file" + (n > 1 ? "s" : "") + " analysed" +
      (c.failed ? " (" + c.failed + " failed)" : "") + (c.running ? " · " + c.running + " running" : "") +
      (c.queued ? " · " + c.queued + " queued" : "");
    setJobBar(job.status, text, finished === n ? 1 : (finished + 0.5 * c.running) / n);
    state.jobStatus = job.status;
    document.body.dataset.jobStatus = job.status;
    const loads = [];
    for (const f of job.files) {
      const card = cardFor(f);
      if (card.status !== f.status) setCardStatus(card, f);
      if ((f.status === "done" || f.status === "failed") && !card.loaded) {
        card.loaded = true;
        loads.push(loadFile(jobId, f.index, card));
      }
    }
    await Promise.all(loads);
    if (jobId !== state.jobId) return;
    const unloaded = [...state.cards.values()].some((c) => !c.loaded && (c.status === "done" || c.status === "failed"));
    if ((job.status === "done" || job.status === "failed") && !unloaded) {
      el.rerun.disabled = false;
      el.downloadAll.href = job.download;
      el.downloadAll.removeAttribute("aria-disabled");
      el.downloadAll.setAttribute("download", "");
      document.body.dataset.ready = jobId;
    } else {
      state.timer = setTimeout(poll, POLL_MS);
    }
  }

  function cardFor(f) {
    let card = state.cards.get(f.index);
    if (card) return card;
    const node = el.template.content.firstElementChild.cloneNode(true);
    node.dataset.index = f.index;
    $(".file-name", node).textContent = f.name;
    el.results.appendChild(node);
    card = { el: node, loaded: false, status: null, pinned: null };
    state.cards.set(f.index, card);
    return card;
  }

  function setCardStatus(card, f) {
    card.status = f.status;
    card.el.dataset.status = f.status;
    const pill = $(".status", card.el);
    pill.textContent = f.status;
    pill.className = "pill status " + f.status;
    const prog = $(".file-progress", card.el);
    prog.classList.toggle("indeterminate", f.status === "running");
    prog.hidden = f.status === "done" || f.status === "failed";
    if (f.status === "queued") prog.firstElementChild.style.width = "0%";
  }

  async function loadFile(jobId, index, card) {
    let f;
    try {
      f = await api("/api/jobs/" + encodeURIComponent(jobId) + "/files/" + index);
    } catch (e) {
      card.loaded = false;
      return;
    }
    if (jobId !== state.jobId) return;
    if (f.status === "failed") {
      const err = $(".error", card.el);
      err.textContent = f.error || "failed";
      err.hidden = false;
      return;
    }
    renderResult(card, f.result);
  }

  // ------------------------------------------------------------------ one file's results

  const MODE_NAMES = { uni: "unidirectional", bi: "bidirectional" };

  function renderResult(card, r) {
    const root = card.el;
    const conf = r.mode_confidence;
    $(".mode", root).textContent = r.mode_requested === "auto" && conf !== null && conf !== undefined
      ? MODE_NAMES[r.mode] + (r.mode_check && r.mode_check.overruled
          ? " · track check " + Math.round(100 * conf) + "% sure (overruled the classifier)"
          : " · classifier " + Math.round(100 * conf) + "% sure")
      : MODE_NAMES[r.mode] + " (set by you)";
    $(".mode", root).title = (r.classifier ? "classifier: p(uni) " + fmt(r.classifier.p_uni, 3) + ", p(bi) " + fmt(r.classifier.p_bi, 3) : "")
      + (r.mode_check && r.mode_check.used ? "; track check: p(bi) " + fmt(r.mode_check.p_bi, 3) : "");
    $(".threshold", root).textContent = "threshold " + fmt(r.threshold) + (r.threshold_source === "model" ? " (model's)" : "");
    $(".ntracks", root).textContent = r.n_tracks + " track" + (r.n_tracks === 1 ? "" : "s");
    if (r.movie) {
      const name = $(".file-name", root);
      name.textContent = r.movie.movie + " · kymograph along a " + fmt(r.movie.path_length_px, 0) + "-px path";
      name.title = "path " + r.movie.path_xy.map((p) => p.join(",")).join(" ") + ", width " + r.movie.width_px + " px";
    }
    root.dataset.ntracks = r.n_tracks;

    const [frames, positions] = r.shape;
    const img = $(".overlay-img", root);
    const svg = $(".tracks-layer", root);
    svg.setAttribute("viewBox", "0 0 " + positions + " " + frames);
    svg.innerHTML = "";
    const shade = document.createElementNS(SVG_NS, "rect");
    shade.setAttribute("class", "shade");
    shade.setAttribute("width", positions);
    shade.setAttribute("height", frames);
    svg.appendChild(shade);
    const lines = new Map();
    for (const t of r.tracks) {
      const pl = document.createElementNS(SVG_NS, "polyline");
      pl.setAttribute("points", t.points.map((p) => (p[1] + 0.5).toFixed(2) + "," + (p[0] + 0.5)).join(" "));
      pl.setAttribute("class", "trk");
      pl.dataset.id = t.track_id;
      const title = document.createElementNS(SVG_NS, "title");
      title.textContent = "track " + t.track_id;
      pl.appendChild(title);
      svg.appendChild(pl);
      lines.set(t.track_id, pl);
    }
    img.onload = () => { root.classList.add("overlay-loaded"); };
    img.src = r.outputs["overlay.png"];
    $(".plots-img", root).src = r.outputs["plots.png"];

    const rows = renderTable(root, r);
    // a track is highlighted while hovered (on) or while pinned by a click
    const highlight = (id, on) => {
      const pinned = card.pinned;
      const lit = (tid) => tid === pinned || (on && tid === id);
      for (const [tid, pl] of lines) pl.classList.toggle("hl", lit(tid));
      for (const [tid, tr] of rows) tr.classList.toggle("hl", lit(tid));
      svg.classList.toggle("focus", on || pinned !== null);
    };
    const pin = (id) => {
      card.pinned = card.pinned === id ? null : id;
      highlight(id, card.pinned === id);
      for (const [tid, tr] of rows) tr.classList.toggle("pinned", tid === card.pinned);
    };
    for (const [tid, tr] of rows) {
      tr.addEventListener("mouseenter", () => highlight(tid, true));
      tr.addEventListener("mouseleave", () => highlight(tid, false));
      tr.addEventListener("click", () => pin(tid));
    }
    for (const [tid, pl] of lines) {
      pl.addEventListener("mouseenter", () => { highlight(tid, true); const tr = rows.get(tid); if (tr) tr.scrollIntoView({ block: "nearest" }); });
      pl.addEventListener("mouseleave", () => highlight(tid, false));
      pl.addEventListener("click", () => pin(tid));
    }
    card.pinned = null;

    renderDownloads(root, r);
    $(".card-body", root).hidden = false;
  }

  function pick(cols, options) {
    for (const o of options) if (cols.includes(o[0])) return o;
    return null;
  }

  function renderTable(root, r) {
    const cols = r.summary_columns;
    const spec = [
      ["track_id", "ID"],
      ["label", "Direction"],
      pick(cols, [["duration_s", "Duration (s)"], ["duration_frames", "Duration (frames)"]]),
      pick(cols, [["net_displacement_um", "Net displ. (µm)"], ["net_displacement_px", "Net displ. (px)"]]),
      pick(cols, [["mean_speed_um_per_s", "Mean speed (µm/s)"], ["mean_speed_px_per_frame", "Mean speed (px/frame)"]]),
      pick(cols, [["run_speed_um_per_s", "Run speed (µm/s)"], ["run_speed_px_per_frame", "Run speed (px/frame)"]]),
      ["n_pauses", "Pauses"],
      ["n_reversals", "Reversals"],
      ["confidence", "Confidence"],
      ["cut_off", "Cut off"],
    ].filter((c) => c && cols.includes(c[0]));
    const thead = $("thead", root);
    const tbody = $("tbody", root);
    thead.innerHTML = "";
    tbody.innerHTML = "";
    const hr = document.createElement("tr");
    for (const [, label] of spec) {
      const th = document.createElement("th");
      th.textContent = label;
      hr.appendChild(th);
    }
    thead.appendChild(hr);
    // a column with any fractional value shows every value with 2 decimals
    const fractional = new Set(spec.map((c) => c[0]).filter((k) =>
      r.summary.some((row) => typeof row[k] === "number" && !Number.isInteger(row[k]))));
    const rows = new Map();
    for (const row of r.summary) {
      const tr = document.createElement("tr");
      tr.dataset.id = row.track_id;
      for (const [key] of spec) {
        const td = document.createElement("td");
        const v = row[key];
        td.textContent = typeof v === "number" && fractional.has(key) ? v.toFixed(2) : fmt(v);
        if (typeof v === "number") td.className = "num";
        if (key === "label") td.className = "dir " + v;
        tr.appendChild(td);
      }
      tbody.appendChild(tr);
      rows.set(row.track_id, tr);
    }
    if (!r.summary.length) {
      const tr = document.createElement("tr");
      const td = document.createElement("td");
      td.colSpan = spec.length;
      td.className = "none";
      td.textContent = "No tracks found at this threshold: try a lower one and re-run.";
      tr.appendChild(td);
      tbody.appendChild(tr);
    }
    return rows;
  }

  const OUTPUT_LABELS = {
    "tracks.csv": "tracks.csv",
    "summary.csv": "summary.csv",
    "kymobutler_summary.csv": "KymoButler summary",
    "overlay.png": "overlay.png",
    "plots.png": "plots.png",
    "tracks_roi.zip": "ImageJ ROIs",
    "run.json": "run.json",
  };

  function renderDownloads(root, r) {
    const box = $(".downloads", root);
    box.innerHTML = "";
    const label = document.createElement("span");
    label.className = "dl-label";
    label.textContent = "Download:";
    box.appendChild(label);
    for (const [name, url] of Object.entries(r.outputs)) {
      const a = document.createElement("a");
      a.href = url;
      a.textContent = OUTPUT_LABELS[name] || name;
      a.setAttribute("download", "");
      a.className = "dl";
      a.dataset.output = name;
      box.appendChild(a);
    }
  }

  // ------------------------------------------------------------------ wiring

  function wire() {
    el.dropzone.addEventListener("click", (e) => { if (e.target !== el.input) el.input.click(); });
    el.dropzone.addEventListener("keydown", (e) => {
      if (e.key === "Enter" || e.key === " ") { e.preventDefault(); el.input.click(); }
    });
    el.input.addEventListener("change", () => {
      const files = Array.from(el.input.files || []);
      el.input.value = "";
      uploadFiles(files);
    });
    // drops anywhere on the page are taken (the browser would otherwise open the file)
    let depth = 0;
    window.addEventListener("dragenter", (e) => { e.preventDefault(); depth++; el.dropzone.classList.add("over"); });
    window.addEventListener("dragleave", () => { depth = Math.max(0, depth - 1); if (!depth) el.dropzone.classList.remove("over"); });
    // (a drop on the movie's own file input keeps the browser's behaviour: it picks the movie)
    window.addEventListener("dragover", (e) => {
      if (e.target === el.movieInput) return;
      e.preventDefault();
      if (e.dataTransfer) e.dataTransfer.dropEffect = "copy";
    });
    window.addEventListener("drop", (e) => {
      if (e.target === el.movieInput) { depth = 0; el.dropzone.classList.remove("over"); return; }
      e.preventDefault();
      depth = 0;
      el.dropzone.classList.remove("over");
      const files = e.dataTransfer ? Array.from(e.dataTransfer.files || []) : [];
      if (files.length) uploadFiles(files);
    });

    el.threshold.addEventListener("input", () => { state.thresholdTouched = true; updateThresholdUI(); });
    el.thresholdReset.addEventListener("click", () => { state.thresholdTouched = false; updateThresholdUI(); });
    for (const r of document.querySelectorAll('input[name="mode"]')) r.addEventListener("change", updateThresholdUI);
    el.rerun.addEventListener("click", rerun);
    el.downloadAll.addEventListener("click", (e) => { if (el.downloadAll.getAttribute("aria-disabled") === "true") e.preventDefault(); });
    document.getElementById("settings").addEventListener("submit", (e) => e.preventDefault());
    el.movieGo.addEventListener("click", () => {
      const file = el.movieInput.files && el.movieInput.files[0];
      const path = el.moviePath.value.trim();
      if (!file) { showMessage("Choose the movie (a TIFF stack) first."); return; }
      if (!path) { showMessage('Give the path along the axon as "x0,y0 x1,y1 ..." in pixels (as ImageJ shows them).'); return; }
      uploadFiles([], { file, path, width: el.movieWidth.value || "1", channel: el.movieChannel.value.trim() });
    });
  }

  async function init() {
    wire();
    updateThresholdUI();
    try {
      state.config = await api("/api/config");
      el.version.textContent = "kymotrace " + state.config.version;
      el.movieBox.hidden = !state.config.movie;
      updateThresholdUI();
      document.body.dataset.configLoaded = "1";
    } catch (e) {
      showMessage("The analysis workers did not start: " + e.message);
    }
  }

  init();
})();
