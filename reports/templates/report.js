(function () {
  "use strict";
  // The page's data (reports/page_data.py): parsed on first use, so opening the page does not pay
  // for it. Reasons and configurations are stored once and referred to by index.
  let parsed = null;
  const data = () => parsed || (parsed = JSON.parse(document.getElementById("report-data").textContent));
  const GLYPH = {"crash": "‼", "error": "!", "timeout": "⌛", "fail": "✗", "known divergence": "≈",
                 "partial": "◐", "pass": "✓", "unsupported": "∅", "not run": "·"};
  const el = (tag, text, cls) => { const e = document.createElement(tag); if (text !== undefined) e.textContent = text; if (cls) e.className = cls; return e; };
  const cls = status => "s-" + status.replace(/ /g, "-");
  // Numbers arrive as JSON numbers, or as "NaN", "Infinity", "-Infinity" (JSON has none of them).
  const num = v => v === null || v === undefined ? null : typeof v === "string" ? Number(v) : v;
  const fmt = v => v === null || v === undefined ? "-" : typeof v === "string" ? v : Number(v).toPrecision(3);
  // Python's format(v, ".2g"), as `python -m reports query` writes a multiple of the tolerance.
  function g2(v) {
    if (v === null) return "-";
    if (Number.isNaN(v)) return "NaN";
    if (!Number.isFinite(v)) return v > 0 ? "inf" : "-inf";
    if (v === 0) return "0";
    const [m, e] = v.toExponential(1).split("e"); const exp = parseInt(e, 10);
    if (exp < -4 || exp >= 2) return m.replace(/\.0$/, "") + "e" + (exp < 0 ? "-" : "+") + String(Math.abs(exp)).padStart(2, "0");
    return String(Number(v.toPrecision(2)));
  }
  const worstOf = (a, b) => a === null ? b : b === null ? a : Number.isNaN(a) || Number.isNaN(b) ? NaN : Math.max(a, b);
  // Only http(s) links are made live (the report's Python side agrees: page_data.web_link); a
  // javascript: or data: link, or a path in the repository, is shown as text.
  const WEB_LINK = /^https?:\/\/[^\s\x00-\x1f\x7f\/?#]+[^\s\x00-\x1f\x7f]*$/i;

  // --- records --------------------------------------------------------------------------------
  const R = {config: 0, column: 1, status: 2, reason: 3, ratio: 4, tensors: 5, extra: 6};
  const configOf = rec => data().configs[rec[R.config]];
  const value = (config, key) => key in config ? config[key] : data().constants[key];
  const statusOf = rec => data().statuses[rec[R.status]];
  function caseId(rec) {
    const extra = rec[R.extra] || {}; const c = configOf(rec);
    return extra.id || c.stem + "-" + data().columns[rec[R.column]].implementation + "-" + value(c, "dtype");
  }
  const rerun = rec => "rerun" in (rec[R.extra] || {}) ? rec[R.extra].rerun : "pytest 'conformance/test_checks.py::test_check[" + caseId(rec) + "]'";
  const repro = rec => "repro" in (rec[R.extra] || {}) ? rec[R.extra].repro : "python -m conformance.repro " + caseId(rec);
  const shown = v => typeof v === "boolean" ? String(v) : v === null ? "null" : String(v);

  // --- verdicts: the same words as reports/verdicts.py ------------------------------------------
  const SEVERITY = () => data().statuses.filter(s => s !== "partial");
  const PROBLEMS = ["crash", "error", "timeout", "fail"];
  const oneLine = (text, limit) => { const t = String(text).split(/\s+/).filter(Boolean).join(" "); return t.length <= limit ? t : t.slice(0, limit - 1) + "…"; };
  const bump = (map, key) => map.set(key, (map.get(key) || 0) + 1);
  const commonest = map => [...map.entries()].sort((a, b) => b[1] - a[1]);  // stable: ties keep first seen
  function verdict(recs) {
    const v = {counts: {}, total: recs.length, limits: new Map(), notRun: new Map(), reasons: {}, worstDiv: null, worstFail: null};
    data().statuses.forEach(s => { v.counts[s] = 0; });
    recs.forEach(rec => {
      const status = statusOf(rec); const reason = data().reasons[rec[R.reason]];
      v.counts[status] += 1;
      if (status === "unsupported") bump(v.limits, reason.limit);
      else if (status === "not run") bump(v.notRun, oneLine(reason.text, 60));
      if (status !== "pass") bump(v.reasons[status] || (v.reasons[status] = new Map()), reason.text);
      const ratio = num(rec[R.ratio]);
      if (status === "known divergence") v.worstDiv = worstOf(v.worstDiv, ratio);
      else if (status === "fail") v.worstFail = worstOf(v.worstFail, ratio);
    });
    const present = SEVERITY().filter(s => v.counts[s]);
    const problems = present.filter(s => PROBLEMS.includes(s));
    const rest = present.filter(s => s !== "not run");
    v.status = !v.total ? "no case" : problems.length ? problems[0] : present.includes("pass") && present.length > 1 ? "partial" : (rest.length ? rest : present)[0];
    return v;
  }
  const breakdown = map => map.size === 1 ? [...map.keys()][0] : commonest(map).map(([k, n]) => k + " " + n).join(", ");
  function countsText(v) {
    const c = v.counts; const parts = [c["pass"] + " of " + v.total + " pass"];
    if (c["unsupported"]) parts.push(c["unsupported"] + " unsupported (" + breakdown(v.limits) + ")");
    if (c["known divergence"]) parts.push(c["known divergence"] + " known divergence" + (v.worstDiv === null ? "" : " (worst " + g2(v.worstDiv) + "× tol)"));
    parts.push(c["fail"] + " fail" + (c["fail"] && v.worstFail !== null ? " (worst " + g2(v.worstFail) + "× tol)" : ""));
    ["error", "crash", "timeout"].forEach(s => { if (c[s]) parts.push(c[s] + " " + s); });
    if (c["not run"]) parts.push(c["not run"] + " not run (" + breakdown(v.notRun) + ")");
    return parts.join(", ");
  }
  function mainReason(v) {
    for (const s of data().statuses) if (v.reasons[s]) return oneLine(commonest(v.reasons[s])[0][0], 240);
    return "";
  }
  function verdictLine(v) {
    const counts = countsText(v); const reason = mainReason(v);
    const said = reason && !counts.includes("(" + reason + ")");
    return v.status + " (" + counts + (said ? "; " + reason : "") + ")";
  }
  const columnName = c => c.implementation + (data().several ? " (" + c.label + ")" : "");

  // --- the configuration picker -----------------------------------------------------------------
  const picker = document.getElementById("picker");
  const MODE_LABEL = {"RNN tanh": "RNN_TANH", "RNN relu": "RNN_RELU"};
  function matches(config, key, wanted) {
    if (key === "check") return config.check === wanted;
    if (key === "mode") {
      const mode = value(config, "mode"); const label = MODE_LABEL[mode + " " + value(config, "nonlinearity")] || mode;
      return wanted === mode || wanted === label;
    }
    return shown(value(config, key)) === wanted;
  }
  function pick(remember) {
    const chosen = [...picker.querySelectorAll("select")].filter(s => s.value).map(s => [s.name, s.value]);
    const byColumn = data().columns.map(() => []);
    data().records.forEach(rec => { const c = configOf(rec); if (chosen.every(([k, w]) => matches(c, k, w))) byColumn[rec[R.column]].push(rec); });
    const out = document.getElementById("picker-result"); out.replaceChildren();
    if (chosen.length && byColumn.every(recs => !recs.length)) {
      out.appendChild(el("li", "no case has all of these settings together: they contradict each other or were never run together", "s-not-run"));
      out.dataset.ready = String(chosen.length);
      if (remember !== false) history.replaceState(null, "", "#pick:" + chosen.map(([k, w]) => encodeURIComponent(k) + "=" + encodeURIComponent(w)).join("&"));
      return;
    }
    data().columns.forEach((column, i) => {
      const v = verdict(byColumn[i]);
      const text = v.total ? columnName(column) + ": " + verdictLine(v) : columnName(column) + ": no case (" + data().no_case + ")";
      const li = el("li", undefined, v.total ? cls(v.status) : "s-not-run");
      li.appendChild(el("span", GLYPH[v.status] || "·", "glyph")); li.appendChild(document.createTextNode(" " + text));
      out.appendChild(li);
    });
    out.dataset.ready = String(chosen.length);
    // the choice is the page's address too: a link to it answers the same question
    if (remember !== false) history.replaceState(null, "", chosen.length ? "#pick:" + chosen.map(([k, w]) => encodeURIComponent(k) + "=" + encodeURIComponent(w)).join("&") : location.pathname + location.search);
  }
  if (picker) {
    picker.addEventListener("change", () => pick(true));
    picker.addEventListener("reset", () => setTimeout(() => pick(true), 0));
  }

  // --- copy buttons -----------------------------------------------------------------------------
  function copyButton(text, label) { const b = el("button", label || "copy", "copy"); b.type = "button"; b.dataset.copy = text; return b; }
  function copy(button) {
    // Select the text too: a page opened from a file may get no clipboard, and then the selection
    // is what Ctrl+C copies.
    const code = button.previousElementSibling;
    if (code && code.tagName === "CODE") { const range = document.createRange(); range.selectNodeContents(code); const s = getSelection(); s.removeAllRanges(); s.addRange(range); }
    const done = ok => { button.textContent = ok ? "copied" : "selected: press Ctrl+C"; };
    if (navigator.clipboard && window.isSecureContext) navigator.clipboard.writeText(button.dataset.copy).then(() => done(true), () => done(false));
    else { let ok = false; try { ok = document.execCommand("copy"); } catch (e) { ok = false; } done(ok); }
  }
  document.addEventListener("click", e => { const b = e.target.closest("button.copy"); if (b) copy(b); });

  // --- the drill-down ---------------------------------------------------------------------------
  const dialog = document.getElementById("drilldown");
  const CONFIG_KEYS = () => [...new Set(data().configs.flatMap(c => Object.keys(c)))].filter(k => k !== "rows" && k !== "stem");
  function tensorLine(t) {
    const [name, abs, rel, ratio, at] = t;
    return name + ": " + fmt(abs) + " / " + fmt(rel) + " / " + fmt(ratio) + "×" + (at ? " — " + at : "");
  }
  function reasonBlock(reason) {
    const block = el("div", undefined, "reason-block");
    const p = el("p", reason.text || "(no reason given)", "reason");
    const r = reason;
    if (r.href && r.href === r.link && WEB_LINK.test(r.href)) {
      const a = el("a", " " + r.link); a.href = r.href; a.rel = "noopener noreferrer"; p.appendChild(a);
    } else if (r.link) { p.appendChild(el("span", " " + r.link, "link")); }
    block.appendChild(p);
    if (r.repro) {  // a known divergence's repro with the framework alone, and where it is declared
      const line = el("p", undefined, "repro"); line.appendChild(el("span", "framework-only repro: ", "muted"));
      line.appendChild(el("code", r.repro)); line.appendChild(copyButton(r.repro)); block.appendChild(line);
    }
    if (r.declared) block.appendChild(el("p", "declared in " + r.declared, "declared"));
    return block;
  }
  function commandCell(rec) {
    const td = el("td", undefined, "commands");
    [["rerun", rerun(rec)], ["repro", repro(rec)]].forEach(([name, command]) => {
      if (!command) return;
      const line = el("div"); line.appendChild(el("span", name + " ", "muted")); line.appendChild(el("code", command)); line.appendChild(copyButton(command));
      td.appendChild(line);
    });
    return td;
  }
  const MAX_ROWS = 400;  // per group: the rest are in the results file
  function open(td, fromHash) {
    document.querySelectorAll(".cell.selected").forEach(c => c.classList.remove("selected"));
    td.classList.add("selected");
    const [row, column] = td.dataset.cell.split("-").map(Number);
    const recs = data().records.filter(rec => rec[R.column] === column && configOf(rec).rows.includes(row));
    show(td.dataset.title, recs, fromHash ? null : "#cell-" + td.dataset.cell);
    // keep the cell visible between the sticky column headers and the panel
    const cellBox = td.getBoundingClientRect(); const header = td.closest("table").tHead.getBoundingClientRect().height;
    if (cellBox.bottom > dialog.getBoundingClientRect().top || cellBox.top < header) window.scrollBy(0, cellBox.top - header - 8);
  }
  let shownCases = [];
  // The panel with `recs`, titled; `hash` (or null to keep the address) is its permalink.
  function show(title, recs, hash) {
    shownCases = recs;
    document.getElementById("dd-title").textContent = title + " — " + recs.length + " case(s)";
    const body = document.getElementById("dd-body"); body.replaceChildren();
    // Keys every case of the cell shares are said once; each group shows only the keys that vary in it.
    const keys = CONFIG_KEYS();
    const varyingIn = members => keys.filter(k => new Set(members.map(rec => JSON.stringify(value(configOf(rec), k)))).size > 1);
    const varying = varyingIn(recs);
    const same = {};
    keys.filter(k => !varying.includes(k) && recs.length).forEach(k => { same[k] = value(configOf(recs[0]), k); });
    Object.entries(data().constants).forEach(([k, v]) => { same[k] = v; });
    body.appendChild(el("p", "Same in every case: " + Object.entries(same).map(([k, v]) => k + "=" + shown(v)).join(", "), "same"));
    // One group per status and reason, most severe first: a reason shared by 96 cases is said once.
    const groups = new Map();
    recs.forEach(rec => { const key = rec[R.status] + ":" + rec[R.reason]; if (!groups.has(key)) groups.set(key, []); groups.get(key).push(rec); });
    const order = [...groups.values()].sort((a, b) => a[0][R.status] - b[0][R.status] || b.length - a.length);
    order.forEach((members, g) => {
      const status = statusOf(members[0]); const reason = data().reasons[members[0][R.reason]];
      const details = el("details", undefined, "group " + cls(status));
      details.open = g === 0 || PROBLEMS.includes(status);
      const summary = el("summary");
      summary.appendChild(el("span", GLYPH[status], "glyph"));
      summary.appendChild(document.createTextNode(" " + status + " · " + members.length + " case(s)" + (reason.limit ? " · " + reason.limit : "") + (reason.text ? " · " + oneLine(reason.text, 160) : "")));
      details.appendChild(summary);
      if (reason.text || reason.link) details.appendChild(reasonBlock(reason));
      // worst first; NaN is the worst there is
      const key = rec => { const r = num(rec[R.ratio]); return r === null ? -1 : Number.isNaN(r) ? Infinity : r; };
      const sorted = members.slice().sort((a, b) => key(b) - key(a));
      const varying = varyingIn(members);
      const table = el("table"); const head = el("tr");
      ["case" + (varying.length ? " (" + varying.join(", ") + ")" : ""), "tensor errors (max abs / max rel / × tol — worst at)", "commands"].forEach(h => head.appendChild(el("th", h)));
      table.appendChild(head);
      sorted.slice(0, MAX_ROWS).forEach(rec => {
        const tr = el("tr", undefined, cls(status)); const c = configOf(rec);
        const caseCell = el("td"); caseCell.appendChild(el("div", varying.map(k => k + "=" + shown(value(c, k))).join(" ") || caseId(rec)));
        caseCell.appendChild(el("div", caseId(rec), "case-id")); tr.appendChild(caseCell);
        const errors = el("td"); (rec[R.tensors] || []).forEach(t => errors.appendChild(el("div", tensorLine(t))));
        tr.appendChild(errors); tr.appendChild(commandCell(rec)); table.appendChild(tr);
      });
      details.appendChild(table);
      if (sorted.length > MAX_ROWS) details.appendChild(el("p", "… and " + (sorted.length - MAX_ROWS) + " more: see the results file."));
      body.appendChild(details);
    });
    if (hash) history.replaceState(null, "", hash);
    // Not modal: the panel takes the lower part of the window and the matrix stays in view and
    // clickable above it.
    if (!dialog.open) dialog.show();
    document.body.classList.add("panel-open");
    dialog.scrollTop = 0;
  }
  function closed() {
    document.body.classList.remove("panel-open");
    document.querySelectorAll(".cell.selected").forEach(c => { c.classList.remove("selected"); c.focus(); });
    if (location.hash.startsWith("#cell-") || location.hash.startsWith("#find=")) history.replaceState(null, "", location.pathname + location.search);
  }
  dialog.addEventListener("close", closed);
  document.addEventListener("keydown", e => { if (e.key === "Escape" && dialog.open) { e.preventDefault(); dialog.close(); } });
  document.getElementById("dd-close").addEventListener("click", () => dialog.close());
  document.getElementById("dd-link").addEventListener("click", e => { e.target.dataset.copy = location.href; e.target.classList.add("copy"); copy(e.target); });
  const matrix = document.getElementById("matrix");
  matrix.addEventListener("click", e => { const td = e.target.closest("td.cell"); if (td) open(td); });
  matrix.addEventListener("keydown", e => { const td = e.target.closest("td.cell"); if (td && (e.key === "Enter" || e.key === " ")) { e.preventDefault(); open(td); } });
  function fromHash() {
    try { applyHash(); } catch (e) { console.warn("link not applied:", e); }  // the page goes on
  }
  function applyHash() {
    const m = /^#cell-(\d+-\d+)$/.exec(location.hash);
    const td = m && document.querySelector('td.cell[data-cell="' + m[1] + '"]');
    if (td) open(td, true);
    const p = /^#pick:(.*)$/.exec(location.hash);
    if (p && picker) {
      picker.reset();
      const ignored = p[1].split("&").filter(term => term && !pickTerm(term)).map(t => decoded(t) || t);
      pick(false); picker.scrollIntoView();
      // a term the page cannot apply is said, never silently dropped (it would answer a broader
      // question than the link asks)
      let note = document.getElementById("picker-ignored");
      if (!note) { note = el("p", "", "notice"); note.id = "picker-ignored"; const out = document.getElementById("picker-result"); out.parentNode.insertBefore(note, out); }
      note.textContent = ignored.length ? "Not applied (no such setting or value on this page): " + ignored.join(", ") : "";
    }
    const f = /^#find=(.*)$/.exec(location.hash);
    const text = f && decoded(f[1]);
    if (text !== null && text !== undefined) { document.getElementById("find").value = text; find(text, false); }
  }
  // a malformed escape in a shared link must not stop the page
  function decoded(text) { try { return decodeURIComponent(text); } catch (e) { return null; } }
  // the spellings `python -m reports query` accepts: aliases, any case, yes/no for booleans
  const ALIAS = {layers: "num_layers", impl: "implementation", directions: "bidirectional"};
  const YES = ["true", "1", "yes", "bi"], NO = ["false", "0", "no", "uni"];
  function pickTerm(term) {
    const eq = term.indexOf("=");
    if (eq < 0) return false;
    const key = decoded(term.slice(0, eq)), raw = decoded(term.slice(eq + 1));
    if (key === null || raw === null) return false;
    const name = ALIAS[key.trim()] || key.trim();
    const select = [...picker.querySelectorAll("select")].find(s => s.name === name);
    if (!select) return false;
    let wanted = raw.trim().toLowerCase();
    if (["bidirectional", "batch_first", "bias"].includes(name)) wanted = YES.includes(wanted) ? "true" : NO.includes(wanted) ? "false" : wanted;
    const option = [...select.options].find(o => o.value && o.value.toLowerCase() === wanted);
    if (option) select.value = option.value;
    return Boolean(option);
  }

  // --- search over cases: every word must occur in the case id, the status or the reason -----
  function find(text, remember) {
    const words = text.toLowerCase().split(/\s+/).filter(Boolean);
    if (!words.length) return;
    const hit = rec => { const hay = (caseId(rec) + " " + statusOf(rec) + " " + data().reasons[rec[R.reason]].text).toLowerCase(); return words.every(w => hay.includes(w)); };
    show("cases matching “" + text + "”", data().records.filter(hit), remember ? "#find=" + encodeURIComponent(text) : null);
  }
  const finder = document.getElementById("finder");
  if (finder) finder.addEventListener("submit", e => { e.preventDefault(); find(document.getElementById("find").value, true); });

  // --- CSV of the cases in the panel: a file made here, from data, never fetched --------------
  const CSV_FIELDS = ["case_id", "implementation", "status", "worst_x_tolerance", "reason", "link", "rerun", "repro"];
  const csvField = v => { const t = v === null || v === undefined ? "" : String(v); return /[",\n\r]/.test(t) || /^[=+\-@\t]/.test(t) ? '"' + (/^[=+\-@\t]/.test(t) ? "'" : "") + t.replace(/"/g, '""') + '"' : t; };
  function csv(recs) {
    const lines = [CSV_FIELDS.join(",")];
    recs.forEach(rec => {
      const reason = data().reasons[rec[R.reason]];
      lines.push([caseId(rec), data().columns[rec[R.column]].implementation, statusOf(rec), rec[R.ratio], reason.text, reason.link, rerun(rec), repro(rec)].map(csvField).join(","));
    });
    return lines.join("\r\n") + "\r\n";
  }
  document.getElementById("dd-csv").addEventListener("click", () => {
    const blob = new Blob([csv(shownCases)], {type: "text/csv"});
    const a = document.createElement("a"); a.download = "cases.csv";
    a.href = URL.createObjectURL(blob);
    document.body.appendChild(a); a.click(); a.remove();
  });
  window.addEventListener("hashchange", fromHash);
  fromHash();

  // --- the heatmap, drawn when opened (22000 cells would slow the page's opening) --------------
  const heat = document.getElementById("heatmap-section");
  function decades(ratio) { return ratio === null || !Number.isFinite(ratio) || ratio < 0 ? 0 : ratio === 0 ? 4 : Math.min(4, Math.max(0, Math.floor(-Math.log10(ratio)))); }
  function drawHeatmap() {
    const d = data(); const keys = new Map(); const rows = new Map();
    d.records.forEach(rec => {
      const c = configOf(rec); const col = rec[R.column] + "|" + value(c, "dtype");
      if (!keys.has(col)) keys.set(col, [rec[R.column], value(c, "dtype")]);
      const name = (c.stem || caseId(rec)).replace(/-/g, " ");
      if (!rows.has(name)) rows.set(name, new Map());
      rows.get(name).set(col, rec);
    });
    const cols = [...keys.entries()].sort((a, b) => a[1][0] - b[1][0] || (a[1][1] < b[1][1] ? -1 : 1));
    const table = el("table", undefined, "heat"); const head = el("tr"); head.appendChild(el("th"));
    cols.forEach(([, [c, dtype]]) => head.appendChild(el("th", columnName(d.columns[c]) + " " + dtype)));
    const thead = el("thead"); thead.appendChild(head); table.appendChild(thead);
    const tbody = el("tbody");
    [...rows.keys()].sort().forEach(name => {
      const tr = el("tr"); tr.appendChild(el("th", name));
      cols.forEach(([key, [c, dtype]]) => {
        const rec = rows.get(name).get(key); const td = el("td");
        if (!rec) { td.className = "h-not-run"; td.title = name + ": not run"; }
        else {
          const status = statusOf(rec); const ratio = num(rec[R.ratio]);
          td.className = status === "pass" ? "h-pass-" + decades(ratio) : "h-" + status.replace(/ /g, "-");
          if (status !== "pass") td.textContent = GLYPH[status];
          td.title = name + " · " + d.columns[c].implementation + " " + dtype + ": " + status + (ratio === null ? "" : ", " + g2(ratio) + "× tolerance");
        }
        tr.appendChild(td);
      });
      tbody.appendChild(tr);
    });
    table.appendChild(tbody);
    document.getElementById("heatmap").replaceChildren(table);
  }
  if (heat) heat.addEventListener("toggle", () => { if (heat.open && !heat.dataset.drawn) { heat.dataset.drawn = "1"; drawHeatmap(); } });
})();
