// The officer console. The access token lives in this tab's
// sessionStorage and goes out only as an Authorization header; behind
// `onevisit console` the local proxy adds a fresh one instead and signs
// policy events with the officer's key (POST /console/sign).
"use strict";
(() => {
  let lang = localStorage.getItem("ov.lang") || "zh-CN";
  const t = (k) => OVText[lang][k] ?? k;
  const $ = (id) => document.getElementById(id);
  const status = (msg) => { $("status").textContent = msg || ""; };
  let proxy = null; // {officer} when behind onevisit console

  // h builds an element: h("td", {class: "ok"}, "text", child...).
  function h(tag, attrs, ...kids) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
      else if (v !== undefined && v !== null && v !== false) el.setAttribute(k, v === true ? "" : v);
    }
    for (const k of kids.flat()) if (k !== null && k !== undefined) el.append(k instanceof Node ? k : String(k));
    return el;
  }
  const field = (id, label, input) => [h("label", { for: id }, label), input];
  const table = (caption, heads, rows) => h("div", { class: "table-wrap" }, h("table", {}, h("caption", { class: "muted" }, caption),
    h("thead", {}, h("tr", {}, heads.map((x) => h("th", { scope: "col" }, x)))), h("tbody", {}, rows)));

  const token = () => sessionStorage.getItem("ov.token");
  const claims = (tok) => { try { return JSON.parse(atob(tok.split(".")[1].replace(/-/g, "+").replace(/_/g, "/"))); } catch { return {}; } };
  function headers(json) {
    const hd = {};
    if (proxy) hd["X-OneVisit-Console"] = "1";
    else if (token()) hd.Authorization = "Bearer " + token();
    if (json) hd["Content-Type"] = "application/json";
    return hd;
  }
  async function call(method, path, body) {
    const r = await fetch(path, { method, headers: headers(!!body), body: body ? JSON.stringify(body) : undefined, credentials: "omit", cache: "no-store" });
    const text = await r.text();
    let j = null; try { j = JSON.parse(text); } catch { j = null; }
    if (r.status === 401 && !proxy) { signOut(t("expired")); throw new Error("unauthenticated"); }
    if (!r.ok) throw new Error((j && j.error && (j.error.code + ": " + j.error.message)) || (r.status + " " + path));
    return j ?? text;
  }
  const text = async (path) => { const r = await fetch(path, { headers: headers(false), credentials: "omit", cache: "no-store" }); if (!r.ok) throw new Error(path + ": " + r.status); return r.text(); };

  // The signed actions: only the proxy holds the officer's key.
  async function sign(ev) {
    if (!proxy) throw new Error(t("needsProxy"));
    return call("POST", "/console/sign", ev);
  }

  function proofCell(p) {
    if (!p) return h("td", { class: "proof" }, t("checking"));
    if (p.ok) return h("td", { class: "ok proof", title: `checkpoint ${p.size}, ${p.signer}` }, t("verified"));
    return h("td", { class: "bad proof", title: p.error }, p.pending ? t("pending") : t("notVerified"));
  }

  // metrics parses the Prometheus text format into [{name, labels, value}].
  async function metrics() {
    const out = [];
    for (const line of (await text("/metrics")).split("\n")) {
      const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? ([^ ]+)$/.exec(line);
      if (!m) continue;
      const labels = {};
      for (const l of (m[2] || "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2];
      out.push({ name: m[1], labels, value: Number(m[3]) });
    }
    return out;
  }
  const sum = (ms, name, pred) => ms.filter((m) => m.name === name && (!pred || pred(m.labels))).reduce((a, m) => a + m.value, 0);

  // recent reads the latest n audit entries with their exact bytes.
  async function recent(n) {
    const cp = OVProof.parseCheckpoint(await text("/v1/audit/checkpoint"));
    const end = cp.size, start = Math.max(0, end - n);
    const page = await call("GET", `/v1/audit/entries?start=${start}&end=${end}`);
    return page.entries.map((b, i) => { const bytes = OVProof.b64(b); return { index: start + i, bytes, entry: JSON.parse(new TextDecoder().decode(bytes)) }; });
  }

  let last = {};
  const pages = {
    async overview(el) {
      const [ms, health, vers, cpText, rec] = await Promise.all([metrics(), call("GET", "/healthz"), call("GET", "/v1/policy/versions"), text("/v1/audit/checkpoint"), recent(1000)]);
      const now = Date.now();
      const ingest = sum(ms, "onevisit_ingest_records_total"), queries = sum(ms, "onevisit_query_seconds_count");
      const rate = (k, v) => { const p = last[k]; last[k] = { v, at: now }; return p && now > p.at ? ((v - p.v) * 60000 / (now - p.at)).toFixed(1) : "—"; };
      const cp = OVProof.parseCheckpoint(cpText);
      const byCode = {};
      for (const r of rec) if (r.entry.kind === "reject" || r.entry.decision === "deny") byCode[r.entry.code || "?"] = (byCode[r.entry.code || "?"] || 0) + 1;
      const byConsumer = {};
      for (const { entry: x } of rec) {
        if (x.kind !== "query" || x.role !== "consumer") continue;
        const n = byConsumer[x.actor] || (byConsumer[x.actor] = { permit: 0, deny: 0 });
        if (x.decision === "permit") n.permit++; else n.deny++;
      }
      const card = (label, big, small) => h("div", { class: "card" }, h("div", { class: "muted" }, label), h("div", { class: "big" }, big), small ? h("div", { class: "muted" }, small) : null);
      el.append(h("h2", {}, t("overview")), h("div", { class: "grid" },
        card(t("node"), health.node, `${t("health")}: ${health.status}`),
        card(t("policyVersion"), String(vers.current), vers.policy_version),
        card(t("checkpointSize"), String(cp.size), cp.origin),
        card(t("ingest"), String(ingest), `${rate("ingest", ingest)} ${t("perMin")}`),
        card(t("queries"), String(queries), `${rate("queries", queries)} ${t("perMin")}`),
        card(t("deadletters"), String(sum(ms, "onevisit_ingest_records_total", (l) => l.result === "rejected")), "")),
      h("h3", {}, t("activity")),
      table(t("activity"), [t("consumer"), t("permit"), t("deny")], Object.entries(byConsumer).sort((a, b) => (b[1].permit + b[1].deny) - (a[1].permit + a[1].deny)).map(([c, n]) => h("tr", {}, h("td", {}, c), h("td", {}, n.permit), h("td", {}, n.deny)))),
      h("h3", {}, t("rejections")),
      table(t("rejections"), [t("code"), t("count")], Object.entries(byCode).sort((a, b) => b[1] - a[1]).map(([c, n]) => h("tr", {}, h("td", {}, c), h("td", {}, n)))));
      // Refresh every 15 s while shown: the rates compare with the last refresh.
      setTimeout(() => { if (el.isConnected) route(true); }, 15000);
    },

    async policies(el) {
      const [vers, props, cur] = await Promise.all([call("GET", "/v1/policy/versions"), call("GET", "/v1/policy/proposals"), call("GET", "/v1/policy/current")]);
      const list = props.proposals || [];
      const detail = h("div", { id: "proposal-detail" });
      el.append(h("h2", {}, t("policies")),
        h("h3", {}, t("proposals")),
        list.length ? table(t("proposals"), [t("proposalId"), t("proposer"), t("reason"), t("effect"), t("state"), ""], list.map((p) =>
          h("tr", { "data-proposal": p.id }, h("td", {}, p.id), h("td", {}, p.proposer), h("td", {}, p.reason), h("td", {}, p.effect), h("td", {}, p.state),
            h("td", {}, h("button", { class: "secondary", "data-review": p.id, onclick: () => review(p.id, detail, vers.current) }, t("review")))))) : h("p", { class: "muted" }, t("none")),
        detail,
        h("h3", {}, t("currentPolicy")),
        h("form", { id: "propose-form", onsubmit: (e) => { e.preventDefault(); change("policy.propose", vers.current); } },
          field("pol-yaml", t("currentPolicy"), h("textarea", { id: "pol-yaml", rows: 14, spellcheck: "false" }, cur.yaml)),
          h("div", { class: "row" },
            h("div", {}, field("pol-id", t("proposalId"), h("input", { id: "pol-id", pattern: "[a-z0-9-]{1,64}" }))),
            h("div", {}, field("pol-reason", t("reason"), h("input", { id: "pol-reason", required: true, maxlength: 256 })))),
          h("button", { type: "submit", id: "propose" }, t("propose")), " ",
          h("button", { type: "button", class: "secondary", id: "narrow", onclick: () => change("policy.narrow", vers.current) }, t("narrow"))),
        h("h3", {}, t("versions")),
        table(t("versions"), [t("number"), t("officers"), t("reason"), t("effect"), t("time")], vers.versions.slice().reverse().map((v) =>
          h("tr", {}, h("td", {}, v.number + (v.number === vers.current ? " ✓" : "")), h("td", {}, (v.officers || []).join(", ")), h("td", {}, v.reason), h("td", {}, v.effect), h("td", {}, new Date(v.time).toLocaleString(lang))))));
    },

    async audit(el) {
      const out = h("div", { id: "audit-results" });
      el.append(h("h2", {}, t("audit")),
        h("form", { id: "by-subject", onsubmit: async (e) => {
          e.preventDefault();
          const res = await call("POST", "/v1/audit/subject", { subject: $("a-subject").value.trim(), reason: $("a-reason").value });
          // The exact bytes of each entry (what the proof checks), asked
          // for all at once rather than one round trip after another.
          const items = await Promise.all(res.entries.map(async (it) => {
            const page = await call("GET", `/v1/audit/entries?start=${it.index}&end=${it.index + 1}`);
            const bytes = OVProof.b64(page.entries[0]);
            return { index: it.index, bytes, entry: JSON.parse(new TextDecoder().decode(bytes)) };
          }));
          await showEntries(out, items.reverse());
        } },
          h("h3", {}, t("bySubject")),
          h("div", { class: "row" },
            h("div", {}, field("a-subject", t("subject"), h("input", { id: "a-subject", required: true, autocomplete: "off", inputmode: "text" }))),
            h("div", {}, field("a-reason", t("reason"), h("input", { id: "a-reason", required: true, maxlength: 256 })))),
          h("button", { type: "submit", id: "a-search-subject" }, t("search"))),
        h("form", { id: "by-filter", onsubmit: async (e) => {
          e.preventDefault();
          // The server filters (GET /v1/audit/entries with filter
          // parameters, the latest 100000 entries); no filter: the latest 200.
          const q = new URLSearchParams();
          const put = (name, v) => { if (v) q.set(name, v); };
          put("consumer", $("f-consumer").value.trim()); put("case_id", $("f-case").value.trim());
          put("kind", $("f-kind").value); put("code", $("f-code").value.trim());
          if ($("f-from").value) q.set("from", new Date($("f-from").value).toISOString());
          if ($("f-to").value) q.set("to", new Date($("f-to").value).toISOString());
          let items;
          if ([...q.keys()].length === 0) items = (await recent(200)).reverse();
          else {
            q.set("limit", "200");
            const res = await call("GET", "/v1/audit/entries?" + q.toString());
            items = res.entries.map((b, j) => { const bytes = OVProof.b64(b); return { index: res.indexes[j], bytes, entry: JSON.parse(new TextDecoder().decode(bytes)) }; });
          }
          await showEntries(out, items);
        } },
          h("h3", {}, t("byFilter")),
          h("div", { class: "row" },
            h("div", {}, field("f-consumer", t("consumer"), h("input", { id: "f-consumer" }))),
            h("div", {}, field("f-case", t("caseId"), h("input", { id: "f-case" }))),
            h("div", {}, field("f-kind", t("kind"), h("select", { id: "f-kind" }, ["", "query", "deny", "reject", "accept", "delivery", "case", "correction", "token", "explain", "policy_change", "key_change"].map((k) => h("option", { value: k }, k || "—"))))),
            h("div", {}, field("f-code", t("code"), h("input", { id: "f-code" }))),
            h("div", {}, field("f-from", t("from"), h("input", { id: "f-from", type: "datetime-local" }))),
            h("div", {}, field("f-to", t("to"), h("input", { id: "f-to", type: "datetime-local" })))),
          h("button", { type: "submit", id: "a-search-filter" }, t("search"))),
        out);
    },

    async keys(el) {
      const [jwks, cl] = await Promise.all([call("GET", "/v1/keys"), call("GET", "/v1/clients")]);
      el.append(h("h2", {}, t("keys")),
        h("form", { id: "register-key", onsubmit: async (e) => {
          e.preventDefault();
          await call("POST", "/v1/keys", { client_id: $("k-client").value, use: $("k-use").value, jwk: JSON.parse($("k-jwk").value), reason: $("k-reason").value });
          status(t("done")); route(true);
        } },
          h("h3", {}, t("registerKey")),
          h("div", { class: "row" },
            h("div", {}, field("k-client", t("clientId"), h("select", { id: "k-client" }, cl.clients.map((c) => h("option", { value: c.client_id }, c.client_id))))),
            h("div", {}, field("k-use", t("use"), h("select", { id: "k-use" }, h("option", { value: "record" }, "record"), h("option", { value: "auth" }, "auth"))))),
          field("k-jwk", t("publicJwk"), h("textarea", { id: "k-jwk", rows: 3, required: true, spellcheck: "false" })),
          field("k-reason", t("reason"), h("input", { id: "k-reason", required: true, maxlength: 256 })),
          h("button", { type: "submit", id: "k-register" }, t("register"))),
        h("form", { id: "revoke-key", onsubmit: async (e) => {
          e.preventDefault();
          await call("POST", "/v1/keys/revoke", { kid: $("r-kid").value, reason: $("r-reason").value });
          status(t("done")); route(true);
        } },
          h("h3", {}, t("revokeKey")),
          h("div", { class: "row" },
            h("div", {}, field("r-kid", t("kid"), h("input", { id: "r-kid", required: true }))),
            h("div", {}, field("r-reason", t("reason"), h("input", { id: "r-reason", required: true, maxlength: 256 })))),
          h("button", { type: "submit", id: "r-revoke" }, t("revoke"))),
        h("h3", {}, t("directory")),
        table(t("directory"), [t("kid"), t("owner"), t("use"), t("status"), t("time")], jwks.keys.map((k) =>
          h("tr", { "data-kid": k.kid }, h("td", {}, k.kid), h("td", {}, k.owner ?? ""), h("td", {}, k.key_use ?? ""), h("td", { class: k.status === "revoked" ? "bad" : "" }, k.status ?? ""), h("td", {}, k.created ? new Date(k.created).toLocaleString(lang) : "")))));
    },

    async deadletters(el) {
      // Counted by the server over the latest 100000 audit entries.
      const res = await call("GET", "/v1/audit/rejections");
      el.append(h("h2", {}, t("deadTitle")),
        table(t("deadTitle"), [t("dataset"), t("code"), t("count")], res.rejections.map((r) => h("tr", {}, h("td", {}, r.dataset || "?"), h("td", {}, r.code || "?"), h("td", {}, r.count)))));
    },

    async clients(el) {
      const cl = await call("GET", "/v1/clients");
      el.append(h("h2", {}, t("clientsTitle")),
        table(t("clientsTitle"), [t("clientId"), t("role"), t("name"), t("datasets"), t("purposes")], cl.clients.map((c) =>
          h("tr", {}, h("td", {}, c.client_id), h("td", {}, c.role), h("td", {}, c.name || ""), h("td", {}, (c.datasets || []).join(", ")), h("td", {}, (c.purposes || []).join(", "))))));
    },
  };

  async function showEntries(out, items) {
    const checker = OVProof.Checker(text);
    const render = () => out.replaceChildren(h("p", { class: "muted" }, `${items.length} ${t("entries")}`), table(t("audit"),
      [t("time"), t("kind"), t("actor"), t("purpose"), t("caseId"), t("fields"), t("decision"), t("proof")],
      items.map((it) => { const x = it.entry; return h("tr", { "data-index": it.index, "data-case": x.case_id || "" },
        h("td", {}, new Date(x.time).toLocaleString(lang)), h("td", {}, x.kind), h("td", {}, x.actor || "—"), h("td", {}, x.purpose || ""),
        h("td", {}, x.case_id || ""), h("td", {}, (x.fields || []).join(", ")), h("td", { class: x.decision === "deny" ? "bad" : "" }, x.decision || x.code || ""), proofCell(it.proof)); })));
    render();
    await Promise.all(items.map(async (it) => { it.proof = await checker.check(it.index, it.bytes); }));
    render();
    out.dataset.proofs = "done";
  }

  async function review(id, el, base) {
    const p = await call("GET", "/v1/policy/proposals/" + encodeURIComponent(id));
    const wi = p.what_if ? JSON.stringify(p.what_if, null, 2) : "";
    el.replaceChildren(h("h3", {}, `${t("review")}: ${p.id}`),
      h("p", {}, `${t("proposer")}: ${p.proposer} · ${t("effect")}: ${p.effect} · ${t("state")}: ${p.state}`),
      h("h4", {}, t("changes")), h("pre", { id: "proposal-changes" }, (p.changes || []).join("\n") || t("none")),
      h("h4", {}, t("widenings")), h("pre", {}, (p.widenings || []).join("\n") || t("none")),
      h("h4", {}, t("whatIf")),
      p.what_if ? h("p", {}, `${t("replayed")}: ${p.what_if.Replayed} · ${t("changedAnswers")}: ${p.what_if.Changed}`) : null,
      p.what_if ? table(t("whatIf"), [t("consumer"), t("answers"), t("changedAnswers"), t("newlyRefused"), t("gained"), t("lost")], (p.what_if.Consumers || []).map((c) =>
        h("tr", {}, h("td", {}, c.Consumer), h("td", {}, c.Answers), h("td", {}, c.Changed), h("td", {}, c.NewlyRefused),
          h("td", {}, (c.Gained || []).map((g) => `${g.Dataset}.${g.Field} ×${g.Answers}`).join(", ")),
          h("td", {}, (c.Lost || []).map((g) => `${g.Dataset}.${g.Field} ×${g.Answers}`).join(", "))))) : h("p", { class: "muted" }, t("none")),
      h("details", {}, h("summary", {}, "JSON"), h("pre", { id: "proposal-whatif" }, wi || t("none"))),
      ...field("d-reason", t("reason"), h("input", { id: "d-reason", required: true, maxlength: 256 })),
      h("button", { id: "approve", onclick: () => decide("policy.approve", p.id, base) }, t("approve")), " ",
      h("button", { id: "reject", class: "secondary", onclick: () => decide("policy.reject", p.id, base) }, t("reject")));
    $("d-reason").focus();
  }
  async function decide(action, id, base) {
    try {
      const r = await sign({ action, proposal: id, base, reason: $("d-reason").value });
      status(`${action}: ${t("done")} (${t("policyVersion")} ${r.version})`);
      await route(true);
    } catch (e) { status(String(e.message)); }
  }
  async function change(action, base) {
    try {
      const r = await sign({ action, proposal: $("pol-id").value, base, reason: $("pol-reason").value, policy: $("pol-yaml").value });
      status(`${action}: ${t("done")} (${t("policyVersion")} ${r.version})`);
      await route(true);
    } catch (e) { status(String(e.message)); }
  }

  async function route(keepStatus) {
    const name = (location.hash || "#overview").slice(1);
    const page = pages[name] ? name : "overview";
    document.querySelectorAll("nav a").forEach((a) => { if (a.getAttribute("href") === "#" + page) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current"); });
    const el = h("div", { id: "page-" + page });
    $("page").replaceChildren(el);
    if (!keepStatus) status("");
    try { await pages[page](el); el.dataset.loaded = "true"; } catch (e) { status(String(e.message)); }
  }

  let timer = 0;
  function signOut(msg) {
    sessionStorage.removeItem("ov.token");
    clearTimeout(timer);
    show();
    status(msg);
  }
  function applyLang() {
    document.documentElement.lang = lang;
    $("lang").value = lang;
    document.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
  }
  async function show() {
    const signedIn = !!proxy || !!token();
    $("signin").hidden = signedIn;
    $("nav").hidden = !signedIn;
    $("signout").hidden = !token();
    $("who").textContent = proxy ? proxy.officer + " (proxy)" : (token() ? claims(token()).client_id || claims(token()).sub || "" : "");
    if (!signedIn) { $("page").replaceChildren(); return; }
    if (token()) {
      const c = claims(token());
      const left = c.exp * 1000 - Date.now();
      if (!(left > 0)) { signOut(t("expired")); return; }
      clearTimeout(timer);
      timer = setTimeout(() => signOut(t("expired")), Math.min(left, 2 ** 31 - 1));
    }
    await route();
  }
  $("lang").addEventListener("change", (e) => { lang = e.target.value; localStorage.setItem("ov.lang", lang); applyLang(); if (!$("nav").hidden) route(); });
  $("usetoken").addEventListener("click", () => {
    const tok = $("token").value.trim();
    $("token").value = "";
    const c = claims(tok);
    if (c.role && c.role !== "officer") { status(t("notOfficer")); return; }
    sessionStorage.setItem("ov.token", tok);
    show();
  });
  $("signout").addEventListener("click", () => signOut(""));
  window.addEventListener("hashchange", () => { if (!$("nav").hidden) route(); });

  applyLang();
  (async () => {
    try { const r = await fetch("/console/session", { headers: { "X-OneVisit-Console": "1" }, credentials: "omit" }); if (r.ok) proxy = await r.json(); } catch { proxy = null; }
    show();
  })();
})();
