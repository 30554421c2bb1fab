// The on-call console: plain JS, no build step. Every piece of data is set with textContent (never
// innerHTML): feedback texts come from customers. The session lives in an HttpOnly cookie; writes send
// the session's CSRF token, which only this origin can read from GET /console/session.
"use strict";

(() => {
  const LEVELS = ["L4", "L3", "L2", "L1"];
  const POLL_MS = 3000;
  const $ = (id) => document.getElementById(id);
  const state = {
    lang: localStorage.getItem("console.lang") || (navigator.language.startsWith("zh") ? "zh" : "en"),
    session: null,
    alerts: [],
    level: "all", // the level chip chosen above the list
    etag: null,
    offsetMs: 0, // service clock minus browser clock
    detail: null,
    lastUpdate: null,
    offline: false,
    timer: null,
  };

  // ---- text -------------------------------------------------------------------------------------
  function t(key, vars) {
    const table = window.I18N[state.lang] || window.I18N.en;
    let text = table[key] !== undefined ? table[key] : window.I18N.en[key] !== undefined ? window.I18N.en[key] : key;
    for (const [name, value] of Object.entries(vars || {})) text = text.replace(`{${name}}`, value);
    return text;
  }

  // A closed set's value in the UI language, or the value itself when the dictionary lacks it.
  function term(prefix, value) {
    const key = `${prefix}_${value}`;
    const text = t(key);
    return text === key ? String(value) : text;
  }

  function translatePage() {
    document.documentElement.lang = state.lang === "zh" ? "zh-CN" : "en";
    document.title = t("title");
    for (const node of document.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
    for (const node of document.querySelectorAll("[data-i18n-placeholder]")) {
      node.placeholder = t(node.dataset.i18nPlaceholder);
    }
    $("lang").value = state.lang;
  }

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "class") node.className = value;
      else if (name === "text") node.textContent = value;
      else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
      else node.setAttribute(name, value === true ? "" : value);
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  const serverNow = () => Date.now() + state.offsetMs;

  function duration(ms) {
    const total = Math.max(0, Math.round(ms / 1000));
    const d = Math.floor(total / 86400), h = Math.floor((total % 86400) / 3600);
    const m = Math.floor((total % 3600) / 60), s = total % 60;
    const parts = d ? [[d, "d"], [h, "h"]] : h ? [[h, "h"], [m, "m"]] : m ? [[m, "m"], [s, "s"]] : [[s, "s"]];
    return parts.map(([n, unit]) => `${n}${t(unit)}`).join(state.lang === "zh" ? "" : " ");
  }

  function when(iso) {
    return iso ? new Date(iso).toLocaleString(state.lang === "zh" ? "zh-CN" : "en-GB") : "—";
  }

  function escalationText(alert) {
    if (alert.status === "resolved" || !alert.next_escalation_at) return t("noEscalation");
    const left = new Date(alert.next_escalation_at).getTime() - serverNow();
    return left > 0 ? t("escalatesIn", { time: duration(left) }) : t("escalationDue");
  }

  // ---- HTTP -------------------------------------------------------------------------------------
  async function api(method, path, body) {
    const headers = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (method !== "GET" && state.session) headers["X-CSRF-Token"] = state.session.csrf;
    const response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
      cache: "no-store",
    });
    if (response.status === 401 && path !== "/console/session") {
      showSignIn();
      throw new Error("unauthorized");
    }
    if (!response.ok) {
      let detail = response.statusText;
      try {
        const parsed = await response.json();
        detail = typeof parsed.detail === "string" ? parsed.detail : JSON.stringify(parsed.detail);
      } catch (_) { /* not JSON */ }
      const error = new Error(detail);
      error.status = response.status;
      throw error;
    }
    return response.status === 204 ? null : response.json();
  }

  // ---- session ----------------------------------------------------------------------------------
  function showSignIn() {
    state.session = null;
    clearInterval(state.timer);
    state.timer = null;
    $("console").hidden = true;
    $("sign-in").hidden = false;
    $("who").hidden = true;
    $("sign-out").hidden = true;
    $("sign-in-name").focus();
  }

  function showConsole(session) {
    state.session = session;
    $("sign-in").hidden = true;
    $("console").hidden = false;
    $("who").hidden = false;
    $("who").textContent = session.name;
    $("who").title = t("signedInAs", { name: session.name });
    $("sign-out").hidden = false;
    route();
    if (!state.timer) state.timer = setInterval(poll, POLL_MS);
  }

  async function signIn(event) {
    event.preventDefault();
    $("sign-in-error").hidden = true;
    try {
      const session = await api("POST", "/console/session", {
        name: $("sign-in-name").value,
        key: $("sign-in-key").value,
      });
      $("sign-in-key").value = "";
      showConsole(session);
    } catch (error) {
      $("sign-in-error").textContent = error.status === 401 ? t("wrongKey") : t("failed", { error: error.message });
      $("sign-in-error").hidden = false;
    }
  }

  async function signOut() {
    await fetch("/console/session", { method: "DELETE", credentials: "same-origin" });
    showSignIn();
  }

  // ---- alerts list ------------------------------------------------------------------------------
  async function loadAlerts() {
    const headers = { Accept: "application/json" };
    if (state.etag) headers["If-None-Match"] = state.etag;
    const url = "/v1/alerts?status=open&status=acknowledged&limit=500";
    const response = await fetch(url, { headers, credentials: "same-origin", cache: "no-store" });
    if (response.status === 401) return showSignIn();
    const now = response.headers.get("X-Server-Now");
    if (now) state.offsetMs = new Date(now).getTime() - Date.now();
    if (response.status === 304) return;
    if (!response.ok) throw new Error(response.statusText);
    state.etag = response.headers.get("ETag");
    state.alerts = (await response.json()).alerts;
    renderAlerts();
  }

  function alertCard(alert) {
    return el(
      "a",
      { class: `alert-card level-${alert.level} status-${alert.status}`, href: `#/alerts/${alert.id}`,
        "data-alert-id": alert.id },
      el("div", { class: "row" },
        el("span", { class: `badge ${alert.level}`, text: alert.level }),
        el("span", { class: `status ${alert.status}`, text: t(`status_${alert.status}`) }),
        alert.silenced ? el("span", { class: "status silenced", text: t("silenced") }) : null,
        el("span", { class: "rule", text: alert.rule_id })),
      el("div", { class: "summary", text: alert.summary }),
      el("div", { class: "row meta" },
        el("span", { class: "age", "data-since": alert.created_at }),
        el("span", { class: "escalation", "data-escalation": alert.id })),
    );
  }

  function levelChips() {
    const chip = (level, count) => el("button", {
      type: "button", class: `chip-filter${state.level === level ? " active" : ""}`, "data-filter": level,
      onclick: () => { state.level = level; renderAlerts(); },
    }, level === "all" ? t("allLevels") : el("span", { class: `badge ${level}`, text: level }), ` ${count}`);
    return el("div", { class: "level-filter", id: "level-filter" }, chip("all", state.alerts.length),
      LEVELS.map((level) => chip(level, state.alerts.filter((a) => a.level === level).length)));
  }

  function renderAlerts() {
    const levels = $("levels");
    levels.replaceChildren();
    $("level-filter-slot").replaceChildren(levelChips());
    for (const level of LEVELS) {
      const mine = state.alerts.filter((a) => a.level === level);
      if (!mine.length || (state.level !== "all" && state.level !== level)) continue;
      levels.append(
        el("section", { class: "level", "data-level": level },
          el("h2", {}, el("span", { class: `badge ${level}`, text: level }), ` ${mine.length}`),
          mine.map(alertCard)),
      );
    }
    $("no-alerts").hidden = state.alerts.length > 0;
    tick();
  }

  // Ages and countdowns move every second without a request.
  function tick() {
    for (const node of document.querySelectorAll("[data-since]")) {
      node.textContent = t("age", { age: duration(serverNow() - new Date(node.dataset.since).getTime()) });
    }
    const known = new Map(state.alerts.map((a) => [a.id, a]));
    if (state.detail) known.set(state.detail.id, state.detail);
    for (const node of document.querySelectorAll("[data-escalation]")) {
      const alert = known.get(node.dataset.escalation);
      if (alert) node.textContent = escalationText(alert);
    }
    if (state.lastUpdate) {
      $("live").textContent = state.offline
        ? t("offline")
        : t("updated", { time: new Date(state.lastUpdate).toLocaleTimeString(state.lang === "zh" ? "zh-CN" : "en-GB") });
      $("live").className = state.offline ? "live off" : "live";
    }
  }

  // ---- alert detail -----------------------------------------------------------------------------
  async function loadDetail(id) {
    const alert = await api("GET", `/v1/alerts/${encodeURIComponent(id)}`);
    if (alert.now) state.offsetMs = new Date(alert.now).getTime() - Date.now();
    const keepNote = document.getElementById("action-note");
    const note = keepNote ? keepNote.value : "";
    state.detail = alert;
    renderDetail(alert, note);
  }

  function field(label, value, attrs) {
    return el("div", { class: "field" }, el("dt", { text: label }), el("dd", attrs || {}, value === null || value === undefined || value === "" ? "—" : value));
  }

  function stars(n) {
    return "★".repeat(Math.max(0, Math.min(5, n))) + "☆".repeat(Math.max(0, 5 - n));
  }

  function renderDetail(alert, note) {
    const group = Object.entries(alert.group_key || {}).map(([k, v]) => `${k}=${v}`).join(", ");
    const open = alert.status !== "resolved";
    const actions = open
      ? el("form", { class: "actions", id: "action-form", onsubmit: (e) => e.preventDefault() },
        el("label", {}, el("span", { text: t("note") }),
          el("textarea", { id: "action-note", rows: "2", maxlength: "2000", placeholder: t("notePlaceholder") })),
        el("div", { class: "row" },
          alert.status === "open" ? el("button", { id: "ack", type: "button", text: t("ack"), onclick: () => act("ack") }) : null,
          el("button", { id: "resolve", type: "button", class: "secondary", text: t("resolve"), onclick: () => act("resolve") })),
        el("p", { id: "action-error", class: "error", role: "alert", hidden: true }))
      : null;
    const detail = el("div", { class: "detail" },
      el("div", { class: "card" },
        el("div", { class: "row" },
          el("span", { class: `badge ${alert.level}`, id: "detail-level", text: alert.level }),
          el("span", { class: `status ${alert.status}`, id: "detail-status", "data-status": alert.status, text: t(`status_${alert.status}`) }),
          alert.silenced ? el("span", { class: "status silenced", text: t("silenced") }) : null),
        el("h2", { class: "summary", text: alert.summary }),
        el("dl", { class: "fields" },
          field(t("rule"), alert.rule_id),
          field(t("group"), group),
          field(t("customer"), alert.customer_id ? el("a", { href: `#/members/${encodeURIComponent(alert.customer_id)}`, text: alert.customer_id }) : null),
          field(t("tier"), alert.member_tier, { id: "detail-tier" }),
          field(t("count"), String(alert.count)),
          field(t("created"), when(alert.created_at)),
          field(t("nextEscalation"), escalationText(alert), { id: "detail-escalation", "data-escalation": alert.id }),
          field(t("resolveBy"), alert.sla_missed_at ? `${t("kind_sla_missed")} (${when(alert.sla_missed_at)})`
            : alert.resolve_by ? when(alert.resolve_by) : null, { id: "detail-resolve-by", class: alert.sla_missed_at ? "error" : null })),
        actions),
      el("div", { class: "card" }, el("h3", { text: t("timeline") }),
        el("ol", { class: "timeline", id: "timeline" }, alert.timeline.map((e) =>
          el("li", { "data-kind": e.kind },
            el("span", { class: "when", text: when(e.at) }),
            el("strong", { text: e.detail && e.detail.by === "inhibition" ? t("heldByInhibition") : term("kind", e.kind) }),
            e.level ? el("span", { class: `badge small ${e.level}`, text: e.level }) : null,
            e.detail && e.detail.from ? ` ${e.detail.from} → ${e.detail.to}` : null,
            e.detail && e.detail.channel ? el("span", { class: "muted", text: `${e.detail.channel} → ${e.detail.target}` }) : null,
            e.detail && e.detail.error ? el("span", { class: "error", text: e.detail.error }) : null,
            e.detail && e.detail.until ? el("span", { class: "muted", text: t("untilAt", { at: when(e.detail.until) }) }) : null,
            e.actor ? el("span", { class: "actor", text: e.actor }) : null,
            e.note ? el("div", { class: "note", text: e.note }) : null)))),
      el("div", { class: "card" }, el("h3", { text: t("evidence") }),
        alert.evidence.length ? el("ul", { class: "evidence", id: "evidence" }, alert.evidence.map((e) => evidenceItem(e, alert))) : el("p", { class: "muted", text: t("noEvidence") })),
      el("div", { class: "card" }, el("h3", { text: t("deliveries") }),
        alert.deliveries.length ? table(
          [t("transition"), t("channel"), t("target"), t("status"), t("attempts"), t("sentAt"), t("lastError")],
          alert.deliveries.map((d) => [term("kind", d.transition), d.channel, d.target, term("delivery", d.status), String(d.attempts), when(d.sent_at), d.last_error || ""]),
          "deliveries") : el("p", { class: "muted", text: t("noDeliveries") })),
    );
    $("alert-detail").replaceChildren(detail);
    const box = document.getElementById("action-note");
    if (box) box.value = note || "";
  }

  function evidenceItem(e, alert) {
    const aspects = (e.aspects || []).map((a) => (typeof a === "string" ? a : `${a.name}:${a.label}`)).join(", ");
    const tier = e.member_tier || (alert.customer_id && (!e.customer_id || e.customer_id === alert.customer_id) ? alert.member_tier : null);
    return el("li", {},
      el("div", { class: "row" },
        el("span", { class: "stars", title: `${e.stars}/5`, text: stars(e.stars) }),
        el("span", { class: `label ${e.label}`, text: term("label", e.label) }),
        e.channel ? el("span", { class: "chip", text: `${t("channel")}: ${e.channel}` }) : null,
        e.customer_id ? el("span", { class: "chip", text: `${t("customer")}: ${e.customer_id}` }) : null,
        tier ? el("span", { class: "chip", text: `${t("tier")}: ${tier}` }) : null,
        el("span", { class: "when", text: when(e.occurred_at) })),
      el("blockquote", { class: "feedback-text", text: e.text }),
      aspects ? el("div", { class: "aspects", text: `${t("aspects")}: ${aspects}` }) : null);
  }

  function table(headings, rows, id) {
    return el("div", { class: "table-wrap" }, el("table", { id },
      el("thead", {}, el("tr", {}, headings.map((h) => el("th", { text: h })))),
      el("tbody", {}, rows.map((r) => el("tr", {}, r.map((c) => el("td", { text: c })))))));
  }

  async function act(verb) {
    const alert = state.detail;
    const note = $("action-note").value.trim();
    try {
      await api("POST", `/v1/alerts/${alert.id}/${verb}`, { actor: state.session.name, note: note || null });
      $("action-note").value = "";
      state.etag = null;
      await Promise.all([loadDetail(alert.id), loadAlerts()]);
    } catch (error) {
      $("action-error").textContent = t("failed", { error: error.message });
      $("action-error").hidden = false;
    }
  }

  // ---- silences ---------------------------------------------------------------------------------
  function silenceState(s) {
    const now = serverNow();
    if (new Date(s.ends_at).getTime() <= now) return "expired";
    return new Date(s.starts_at).getTime() > now ? "pending" : "active";
  }

  async function loadSilences() {
    const ends = $("silence-ends");
    if (!ends.value || new Date(ends.value).getTime() <= serverNow()) {
      ends.value = localInput(new Date(serverNow() + 2 * 3600 * 1000));
    }
    const list = await api("GET", "/v1/silences");
    const rows = list.slice().reverse().map((s) => {
      const phase = silenceState(s);
      return el("li", { class: `silence ${phase}`, "data-silence-id": s.id },
        el("div", { class: "row" },
          el("span", { class: `status ${phase}`, text: t(`state_${phase}`) }),
          el("code", { text: s.matchers.map((m) => `${m.name}=${m.value}`).join(", ") })),
        el("div", { class: "muted", text: `${when(s.starts_at)} → ${when(s.ends_at)} · ${t("by", { name: s.created_by })}` }),
        el("div", { text: s.comment }),
        phase === "expired" ? null : el("button", { type: "button", class: "secondary small", text: t("expire"), onclick: () => expireSilence(s.id) }));
    });
    $("silences").replaceChildren(el("div", { class: "card" }, el("h2", { text: t("silences") }),
      rows.length ? el("ul", { class: "silences" }, rows) : el("p", { class: "muted", text: t("noSilences") })));
  }

  async function loadOnCall() {
    const found = await api("GET", "/v1/oncall");
    const rows = found.schedules.map((s) => [s.schedule, s.now, when(s.until), s.next, s.time_zone]);
    const windows = found.mute_windows.map((w) => [w.name, w.entries.join("; "),
      w.muted_until ? t("mutedUntil", { at: when(w.muted_until) }) : "—", w.used_by.join(", ") || t("notUsed")]);
    $("oncall").replaceChildren(el("div", { class: "card" }, el("h2", { text: t("tabOnCall") }),
      rows.length ? table([t("schedule"), t("onCallNow"), t("until"), t("next"), t("timeZone")], rows, "oncall-table")
        : el("p", { class: "muted", text: t("noSchedules") })),
      el("div", { class: "card" }, el("h2", { text: t("muteWindows") }),
        windows.length ? table([t("muteName"), t("muteWhen"), t("muteNow"), t("usedBy")], windows, "mute-table")
          : el("p", { class: "muted", text: t("noMuteWindows") })));
  }

  // ---- callbacks (回访) ---------------------------------------------------------------------------
  // #/callbacks lists everyone's; #/callbacks/<customer id> one customer's.
  async function loadCallbacks(customer) {
    const only = customer ? `&customer=${encodeURIComponent(customer)}` : "";
    const [open, done] = await Promise.all([
      api("GET", `/v1/callbacks?state=open&limit=100${only}`),
      api("GET", `/v1/callbacks?state=done&limit=20${only}`),
    ]);
    const openRows = open.callbacks.map((c) => el("li", { class: `callback ${c.state}`, "data-callback-id": c.id },
      el("div", { class: "row" },
        el("span", { class: `status ${c.state}`, text: t(`callback_${c.state}`) }), " ",
        el("a", { href: `#/members/${encodeURIComponent(c.customer_id)}`, text: c.customer_id }),
        c.tier ? el("span", { class: `tier ${c.tier}`, text: c.tier }) : null, " ",
        el("a", { href: `#/alerts/${c.alert_id}`, text: t("theCase") })),
      el("div", { class: "muted", text: t("dueAt", { at: when(c.due_at) }) }),
      el("button", { type: "button", class: "secondary small", text: t("record"), onclick: () => openCallback(c) })));
    const doneRows = done.callbacks.map((c) => [when(c.done_at), c.customer_id, String(c.nps), c.done_by || "",
      c.review_alert_id ? t("reviewOpened") : "", c.note || ""]);
    $("callbacks").replaceChildren(
      el("div", { class: "card" }, el("h2", { text: t("callbacksOpen") }),
        openRows.length ? el("ul", { class: "callbacks", id: "open-callbacks" }, openRows)
          : el("p", { class: "muted", text: t("noCallbacks") })),
      el("div", { class: "card" }, el("h2", { text: t("callbacksDone") }),
        doneRows.length ? table([t("at"), t("customerId"), "NPS", t("byWhom"), t("review"), t("comment")], doneRows, "done-callbacks")
          : el("p", { class: "muted", text: t("noCallbacks") })));
  }

  function openCallback(callback) {
    $("callback-id").value = callback.id;
    $("callback-title").textContent = t("callbackFor", { customer: callback.customer_id });
    $("callback-error").hidden = true;
    $("callback-card").hidden = false;
    $("callback-nps").focus();
  }

  async function recordCallback(event) {
    event.preventDefault();
    const note = $("callback-note").value.trim();
    try {
      await api("POST", `/v1/callbacks/${$("callback-id").value}/result`, {
        actor: state.session.name, nps: Number($("callback-nps").value), note: note || null,
      });
      $("callback-form").reset();
      $("callback-card").hidden = true;
      await loadCallbacks(currentRoute().id);
    } catch (error) {
      $("callback-error").textContent = t("failed", { error: error.message });
      $("callback-error").hidden = false;
    }
  }

  function localInput(date) {
    const shifted = new Date(date.getTime() - date.getTimezoneOffset() * 60000);
    return shifted.toISOString().slice(0, 16);
  }

  async function createSilence(event) {
    event.preventDefault();
    $("silence-error").hidden = true;
    const matchers = $("silence-matchers").value.split(",").map((part) => part.trim()).filter(Boolean).map((part) => {
      const at = part.indexOf("=");
      return at > 0 ? { name: part.slice(0, at).trim(), value: part.slice(at + 1).trim() } : null;
    });
    if (!matchers.length || matchers.includes(null)) {
      $("silence-error").textContent = t("badMatchers");
      $("silence-error").hidden = false;
      return;
    }
    const starts = $("silence-starts").value;
    try {
      await api("POST", "/v1/silences", {
        matchers,
        starts_at: starts ? new Date(starts).toISOString() : null,
        ends_at: new Date($("silence-ends").value).toISOString(),
        created_by: state.session.name,
        comment: $("silence-comment").value,
      });
      $("silence-matchers").value = "";
      $("silence-comment").value = "";
      await loadSilences();
    } catch (error) {
      $("silence-error").textContent = t("failed", { error: error.message });
      $("silence-error").hidden = false;
    }
  }

  async function expireSilence(id) {
    await api("DELETE", `/v1/silences/${id}?actor=${encodeURIComponent(state.session.name)}`);
    await loadSilences();
  }

  // ---- members ----------------------------------------------------------------------------------
  async function loadMember(id) {
    $("member-id").value = id;
    const found = await api("GET", `/console/api/members/${encodeURIComponent(id)}`);
    const parts = [];
    if (found.loyalty === "ok") {
      const m = found.member;
      parts.push(el("div", { class: "card", id: "member-card" },
        el("h2", {}, el("span", { text: m.customer_id }), " ", el("span", { class: `tier ${m.tier}`, id: "member-tier", text: m.tier })),
        el("dl", { class: "fields" },
          field(t("balance"), String(m.balance), { id: "member-balance" }),
          field(t("qualifyingSpend"), m.qualifying_spend),
          field(t("expiring"), String(m.expiring_in_30_days))),
        el("h3", { text: t("ledger") }),
        found.ledger.length ? table([t("at"), t("kind"), t("points"), t("balance"), t("reason")],
          found.ledger.map((e) => [when(e.at), e.kind, String(e.points), String(e.balance_after), e.reason || e.source || ""]), "ledger")
          : el("p", { class: "muted", text: t("noLedger") })));
    } else {
      parts.push(el("p", { class: found.loyalty === "unavailable" ? "error" : "muted", id: "member-missing",
        text: found.loyalty === "unavailable" ? t("loyaltyDown") : t("noMember") }));
    }
    parts.push(el("div", { class: "card" }, el("h3", { text: t("openComplaints") }),
      el("a", { href: `#/callbacks/${encodeURIComponent(id)}`, id: "member-callbacks", text: t("tabCallbacks") }),
      found.open_alerts.length ? el("ul", { class: "complaints", id: "complaints" }, found.open_alerts.map((a) =>
        el("li", {}, el("a", { href: `#/alerts/${a.id}`, "data-alert-id": a.id },
          el("span", { class: `badge small ${a.level}`, text: a.level }), " ",
          el("span", { text: a.summary }), " ",
          el("span", { class: `status ${a.status}`, text: t(`status_${a.status}`) })))))
        : el("p", { class: "muted", text: t("noComplaints") })));
    $("member").replaceChildren(...parts);
  }

  // ---- routing and polling ----------------------------------------------------------------------
  function currentRoute() {
    const [, view, id] = (location.hash || "#/alerts").split("/");
    return { view: view || "alerts", id: id ? decodeURIComponent(id) : null };
  }

  function show(view) {
    for (const name of ["alerts", "alert", "silences", "members", "oncall", "callbacks", "insights"]) $(`view-${name}`).hidden = name !== view;
    for (const tab of document.querySelectorAll("[data-tab]")) {
      tab.classList.toggle("active", tab.dataset.tab === (view === "alert" ? "alerts" : view));
    }
  }

  // The list is polled on every view: it is cheap (ETag) and keeps the service clock offset fresh.
  async function refresh() {
    const { view, id } = currentRoute();
    await loadAlerts();
    if (view === "alerts" && id) return loadDetail(id);
    if (view === "silences") return loadSilences();
    if (view === "oncall") return loadOnCall();
    if (view === "callbacks") return loadCallbacks(id);
    if (view === "members" && id) return loadMember(id);
  }

  function route() {
    if (!state.session) return;
    const { view, id } = currentRoute();
    state.detail = view === "alerts" && id ? state.detail && state.detail.id === id ? state.detail : null : null;
    if (!state.detail) $("alert-detail").replaceChildren();
    show(view === "alerts" && id ? "alert" : view);
    if (view === "insights") window.Insights.load(kit, $("insights")); // on arrival, not on every poll
    poll();
  }

  async function poll() {
    if (!state.session || document.hidden) return;
    try {
      await refresh();
      state.offline = false;
      state.lastUpdate = Date.now();
    } catch (error) {
      if (error.message !== "unauthorized") state.offline = true;
    }
    tick();
  }

  async function start() {
    translatePage();
    $("lang").addEventListener("change", () => {
      state.lang = $("lang").value;
      localStorage.setItem("console.lang", state.lang);
      translatePage();
      if (state.session) {
        renderAlerts();
        if (state.detail) renderDetail(state.detail, document.getElementById("action-note")?.value);
        if (currentRoute().view === "insights") window.Insights.load(kit, $("insights"));
        poll();
      }
    });
    $("sign-in-form").addEventListener("submit", signIn);
    $("sign-out").addEventListener("click", signOut);
    $("silence-form").addEventListener("submit", createSilence);
    $("callback-form").addEventListener("submit", recordCallback);
    $("member-form").addEventListener("submit", (event) => {
      event.preventDefault();
      location.hash = `#/members/${encodeURIComponent($("member-id").value.trim())}`;
    });
    window.addEventListener("hashchange", route);
    document.addEventListener("visibilitychange", poll);
    setInterval(tick, 1000);
    try {
      showConsole(await api("GET", "/console/session"));
    } catch (_) {
      showSignIn();
    }
  }

  // What the Insights page (insights.js) borrows from here.
  const kit = { el, t, term, api, table, stars };

  document.addEventListener("DOMContentLoaded", start);
})();
