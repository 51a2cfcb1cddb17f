// The citizen page: a resident's own audit entries, each checked in the
// signed log; a JSON download; correction requests.
"use strict";
(() => {
  const T = {
    "zh-CN": {
      title: "我的数据访问记录", language: "语言", signout: "退出", signinTitle: "登录",
      signinText: "请通过省政务服务身份认证登录，查看谁在何时、为何访问了您的数据。", signinButton: "前往登录",
      pasteToken: "或粘贴身份令牌（ID token）", useToken: "使用此令牌登录",
      intro: "以下是与您有关的每一次数据访问，最新的在前；每一条都已核验确在签名的审计日志中。",
      download: "下载（JSON）", caption: "访问记录", when: "时间", who: "服务", what: "事项与用途", case: "案件号", fields: "字段",
      outcome: "结果", proof: "日志证明", correctTitle: "申请更正", dataset: "数据集", field: "字段",
      comment: "说明（请勿填写身份证号）", submitCorrection: "提交更正申请",
      permit: "已允许", deny: "已拒绝", accepted: "已收录", rejected: "未收录", duplicate: "重复",
      myCorrections: "我的更正申请", filed: "提交时间", department: "处理部门", cStatus: "状态", decision: "部门答复", none: "暂无",
      corr: { correction_open: "更正申请：已提交", correction_accepted: "更正申请：已接受", correction_rejected: "更正申请：已驳回", correction_corrected: "已更正" },
      cstatus: { open: "处理中", accepted: "已接受", rejected: "已驳回", corrected: "已更正" },
      verified: "已核验", checking: "核验中…", notVerified: "未通过核验", pending: "待下一个检查点",
      entries: (n) => `共 ${n} 条`, expired: "登录已过期，请重新登录。", sent: "更正申请已转交数据提供部门，状态：处理中。",
      kinds: { query: "查询", accept: "数据收录", reject: "数据退回", deny: "拒绝的请求", explain: "规则说明", correction: "更正申请" },
      purposes: { school_enrolment: "义务教育入学", newborn_registration: "新生儿登记", property_transfer: "不动产转移", audit_investigation: "审计调查" },
    },
    en: {
      title: "Who accessed my data", language: "Language", signout: "Sign out", signinTitle: "Sign in",
      signinText: "Sign in with the province's citizen identity service to see who accessed your data, when and why.", signinButton: "Go to sign-in",
      pasteToken: "Or paste an ID token", useToken: "Sign in with this token",
      intro: "Every access to data about you, newest first; each one is checked to be in the signed audit log.",
      download: "Download (JSON)", caption: "Accesses", when: "When", who: "Service", what: "Procedure and purpose", case: "Case id", fields: "Fields",
      outcome: "Outcome", proof: "Log proof", correctTitle: "Ask for a correction", dataset: "Dataset", field: "Field",
      comment: "What is wrong (no ID numbers, please)", submitCorrection: "Send the request",
      permit: "permitted", deny: "refused", accepted: "accepted", rejected: "rejected", duplicate: "duplicate",
      myCorrections: "My correction requests", filed: "Filed", department: "Department", cStatus: "Status", decision: "Department's answer", none: "none yet",
      corr: { correction_open: "correction: filed", correction_accepted: "correction: accepted", correction_rejected: "correction: rejected", correction_corrected: "corrected" },
      cstatus: { open: "open", accepted: "accepted", rejected: "rejected", corrected: "corrected" },
      verified: "verified", checking: "checking…", notVerified: "NOT verified", pending: "awaits the next checkpoint",
      entries: (n) => `${n} entries`, expired: "Your sign-in expired; please sign in again.", sent: "Your request was sent to the department that published the data; status: open.",
      kinds: { query: "query", accept: "record accepted", reject: "record rejected", deny: "refused request", explain: "explanation", correction: "correction request" },
      purposes: { school_enrolment: "school enrolment", newborn_registration: "newborn registration", property_transfer: "property transfer", audit_investigation: "audit investigation" },
    },
  };
  let lang = localStorage.getItem("ov.lang") || "zh-CN";
  const t = (k) => T[lang][k] ?? k;
  const $ = (id) => document.getElementById(id);
  const status = (msg) => { $("status").textContent = msg || ""; };
  let last = null;
  let lastCorrections = null;

  function applyLang() {
    document.documentElement.lang = lang;
    $("lang").value = lang;
    document.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
    if (last) render(last);
    if (lastCorrections) renderCorrections(lastCorrections);
  }
  $("lang").addEventListener("change", (e) => { lang = e.target.value; localStorage.setItem("ov.lang", lang); applyLang(); });

  const token = () => sessionStorage.getItem("ov.idtoken");
  function expiry(tok) {
    try { return JSON.parse(atob(tok.split(".")[1].replace(/-/g, "+").replace(/_/g, "/"))).exp * 1000; } catch { return 0; }
  }
  function signOut(msg) {
    sessionStorage.removeItem("ov.idtoken");
    clearTimeout(pollTimer);
    last = null;
    lastCorrections = null;
    show();
    status(msg);
  }
  async function api(method, path, body) {
    const headers = { Authorization: "Bearer " + token() };
    if (body) headers["Content-Type"] = "application/json";
    const r = await fetch(path, { method, headers, body: body ? JSON.stringify(body) : undefined, credentials: "omit", cache: "no-store" });
    const j = await r.json().catch(() => ({}));
    if (r.status === 401) { signOut(t("expired")); throw new Error("unauthenticated"); }
    if (!r.ok) throw new Error((j.error && (j.error.code + ": " + j.error.message)) || r.status);
    return j;
  }
  const fetchText = async (path) => { const r = await fetch(path, { credentials: "omit", cache: "no-store" }); if (!r.ok) throw new Error(path + ": " + r.status); return r.text(); };

  const heads = ["when", "who", "what", "case", "fields", "outcome", "proof"];
  // cell adds a cell labelled with its column (shown beside it on a phone).
  function cell(tr, text, cls) { const td = document.createElement("td"); td.textContent = text; if (cls) td.className = cls; td.dataset.label = t(heads[tr.children.length]); tr.appendChild(td); return td; }

  function render(data) {
    const tb = $("accesses").querySelector("tbody");
    tb.replaceChildren();
    $("summary").textContent = T[lang].entries(data.entries.length);
    for (const it of data.entries) {
      const e = it.entry;
      const tr = document.createElement("tr");
      tr.dataset.index = it.index;
      cell(tr, new Date(e.time).toLocaleString(lang));
      cell(tr, e.actor || "—");
      const kind = T[lang].kinds[e.kind] || e.kind;
      const purpose = e.purpose ? (T[lang].purposes[e.purpose] || e.purpose) : "";
      cell(tr, [kind, purpose, e.dataset].filter(Boolean).join(" · "));
      cell(tr, e.case_id || "—");
      cell(tr, (e.fields || []).join(", ") || "—");
      if (e.kind === "correction") cell(tr, T[lang].corr[e.code] || e.code || "—", e.code === "correction_rejected" ? "bad" : "");
      else cell(tr, e.decision ? t(e.decision) : (e.code || "—"), e.decision === "deny" || e.decision === "rejected" ? "bad" : "");
      const p = cell(tr, it.proof ? (it.proof.ok ? t("verified") : (it.proof.pending ? t("pending") : t("notVerified"))) : t("checking"), it.proof ? (it.proof.ok ? "ok proof" : "bad proof") : "proof");
      if (it.proof && it.proof.ok) p.title = `checkpoint size ${it.proof.size}, key ${it.proof.signer}`;
      if (it.proof && !it.proof.ok) p.title = it.proof.error;
      tb.appendChild(tr);
    }
  }

  async function load() {
    status("");
    const data = await api("GET", "/v1/me/accesses");
    // What is shown and downloaded is decoded from the bytes the proof
    // checks, never the server's decoded copy (entry), which nothing
    // verifies.
    data.entries.forEach((it) => { it.bytes = OVProof.b64(it.leaf); it.entry = JSON.parse(new TextDecoder().decode(it.bytes)); });
    last = data;
    render(data);
    const checker = OVProof.Checker(fetchText);
    await Promise.all(data.entries.map(async (it) => { it.proof = await checker.check(it.index, it.bytes); }));
    render(data);
    document.body.dataset.proofs = "done";
  }

  // The resident's corrections, as the departments decide them: the
  // page asks again every few seconds while one is open.
  function renderCorrections(list) {
    const tb = $("corrections").querySelector("tbody");
    tb.replaceChildren();
    for (const c of list) {
      const tr = document.createElement("tr");
      tr.dataset.id = c.id;
      const cheads = ["filed", "dataset", "field", "department", "cStatus", "decision"];
      const td = (text, cls) => { const d = document.createElement("td"); d.textContent = text; if (cls) d.className = cls; d.dataset.label = t(cheads[tr.children.length]); tr.appendChild(d); };
      const st = c.status === "accepted" && c.corrected_record_id ? "corrected" : c.status;
      td(new Date(c.filed).toLocaleString(lang));
      td(c.dataset);
      td(c.field);
      td(c.department);
      td(T[lang].cstatus[st] || st, st === "rejected" ? "bad cstatus" : "cstatus");
      td(c.decision || "—");
      tb.appendChild(tr);
    }
    if (!list.length) { const tr = document.createElement("tr"); const d = document.createElement("td"); d.colSpan = 6; d.className = "muted"; d.textContent = t("none"); tr.appendChild(d); tb.appendChild(tr); }
  }
  let pollTimer = 0;
  async function loadCorrections() {
    clearTimeout(pollTimer);
    const j = await api("GET", "/v1/me/corrections");
    const was = new Map((lastCorrections || []).map((c) => [c.id, c.status]));
    if (j.corrections.some((c) => was.has(c.id) && was.get(c.id) !== c.status)) status(""); // "sent … open" no longer holds
    lastCorrections = j.corrections;
    renderCorrections(lastCorrections);
    if (lastCorrections.some((c) => c.status === "open") && token()) {
      pollTimer = setTimeout(() => loadCorrections().catch((e) => status(String(e.message))), 3000);
    }
  }

  async function datasets() {
    const r = await fetch("/v1/datasets", { credentials: "omit" });
    const j = await r.json();
    const ds = $("c-dataset");
    ds.replaceChildren(...j.datasets.filter((d) => d.name !== "consent").map((d) => new Option(d.name, d.name)));
    const fill = () => {
      const d = j.datasets.find((x) => x.name === ds.value);
      $("c-field").replaceChildren(...d.fields.filter((f) => f !== d.subject).map((f) => new Option(f, f)));
    };
    ds.onchange = fill;
    fill();
  }

  $("correct").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      await api("POST", "/v1/me/corrections", { dataset: $("c-dataset").value, field: $("c-field").value, comment: $("c-comment").value });
      $("c-comment").value = "";
      await loadCorrections();
      await load();
      status(t("sent"));
    } catch (e) { status(String(e.message)); }
  });
  $("download").addEventListener("click", () => {
    const out = (last ? last.entries : []).map((it) => ({ index: it.index, entry: it.entry, in_signed_log: !!(it.proof && it.proof.ok) }));
    const a = document.createElement("a");
    a.href = URL.createObjectURL(new Blob([JSON.stringify({ entries: out }, null, 2)], { type: "application/json" }));
    a.download = "onevisit-my-accesses.json";
    a.click();
  });
  $("signout").addEventListener("click", () => signOut(""));
  $("usetoken").addEventListener("click", () => { sessionStorage.setItem("ov.idtoken", $("idtoken").value.trim()); $("idtoken").value = ""; show(); });

  let timer = 0;
  async function show() {
    clearTimeout(timer);
    const tok = token();
    const exp = tok ? expiry(tok) : 0;
    const signedIn = tok && exp > Date.now();
    $("signin").hidden = !!signedIn;
    $("mine").hidden = !signedIn;
    $("signout").hidden = !signedIn;
    if (!signedIn) {
      if (tok) sessionStorage.removeItem("ov.idtoken");
      try { const c = await (await fetch("/v1/me/config", { credentials: "omit" })).json(); if (c.signin_url) $("provider").href = c.signin_url; } catch { /* sign-in not configured */ }
      return;
    }
    timer = setTimeout(() => signOut(t("expired")), Math.min(exp - Date.now(), 2 ** 31 - 1));
    try { await datasets(); await loadCorrections(); await load(); } catch (e) { status(String(e.message)); }
  }
  applyLang();
  show();
})();
