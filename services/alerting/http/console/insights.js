// The console's Insights page: NPS, CSAT, CES and negative-share trends per business line, SLA compliance
// by level and the worst cells of the week, each cell opening the records behind it. Data comes from
// GET /console/api/kpis (the insights service behind a same-origin proxy); charts are plain SVG, and every
// piece of data is set as text, never as markup.
"use strict";

window.Insights = (() => {
  const SVG = "http://www.w3.org/2000/svg";
  const COLORS = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2"];
  const LINES_SHOWN = 6; // business lines drawn, the busiest first
  const MIN_N = 5; // a worst cell needs at least this many responses behind it
  const CHARTS = [
    { metric: "nps", key: "insNps", benchmark: 32, digits: 0 },
    { metric: "csat", key: "insCsat", benchmark: 4.2, digits: 2 },
    { metric: "ces", key: "insCes", benchmark: null, digits: 2 },
    { metric: "negative_share", key: "insNegative", benchmark: null, digits: 1, unit: "%" },
  ];
  let kit = null;
  let interval = "day";

  function svg(tag, attrs, ...children) {
    const node = document.createElementNS(SVG, tag);
    for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, value);
    for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    return node;
  }

  const query = (params) => new URLSearchParams(Object.entries(params).filter(([, v]) => v !== null && v !== undefined)).toString();
  const kpis = (params) => kit.api("GET", `/console/api/kpis?${query({ interval, ...params })}`);
  const format = (value, digits, unit) => `${value.toFixed(digits)}${unit || ""}`;
  const groupName = (value) => (value === null ? kit.t("insNone") : value);

  // The busiest lines' series, so that a chart stays readable however many lines the business has.
  function busiest(series) {
    const total = (s) => s.points.reduce((sum, p) => sum + p.n, 0);
    return [...series].sort((a, b) => total(b) - total(a)).slice(0, LINES_SHOWN);
  }

  function lineChart(chart, series) {
    const width = 560, height = 220, left = 44, right = 12, top = 12, bottom = 28;
    const starts = [...new Set(series.flatMap((s) => s.points.map((p) => p.start)))].sort();
    const values = series.flatMap((s) => s.points.map((p) => p.value));
    if (chart.benchmark !== null) values.push(chart.benchmark);
    const figure = kit.el("figure", { class: "chart", "data-metric": chart.metric });
    figure.append(kit.el("figcaption", { text: kit.t(chart.key) }));
    if (!starts.length) {
      figure.append(kit.el("p", { class: "muted", text: kit.t("insNoData") }));
      return figure;
    }
    let low = Math.min(...values), high = Math.max(...values);
    if (high - low < 1e-9) { low -= 1; high += 1; }
    const pad = (high - low) * 0.08;
    low -= pad; high += pad;
    const x = (start) => left + (starts.length === 1 ? (width - left - right) / 2 : (starts.indexOf(start) * (width - left - right)) / (starts.length - 1));
    const y = (value) => top + ((high - value) * (height - top - bottom)) / (high - low);
    const plot = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": kit.t(chart.key) });
    for (const tickValue of [low + pad, (low + high) / 2, high - pad]) {
      plot.append(svg("line", { x1: left, x2: width - right, y1: y(tickValue), y2: y(tickValue), class: "grid" }));
      plot.append(svg("text", { x: left - 4, y: y(tickValue) + 4, "text-anchor": "end", class: "axis" }, format(tickValue, chart.digits, chart.unit)));
    }
    for (const start of [starts[0], starts[starts.length - 1]]) {
      plot.append(svg("text", { x: x(start), y: height - 8, "text-anchor": start === starts[0] ? "start" : "end", class: "axis" }, start));
    }
    if (chart.benchmark !== null) {
      plot.append(svg("line", { x1: left, x2: width - right, y1: y(chart.benchmark), y2: y(chart.benchmark), class: "benchmark" }));
      plot.append(svg("text", { x: width - right, y: y(chart.benchmark) - 4, "text-anchor": "end", class: "axis" }, `${kit.t("insBenchmark")} ${chart.benchmark}`));
    }
    const legend = kit.el("ul", { class: "legend" });
    series.forEach((s, i) => {
      const color = COLORS[i % COLORS.length];
      const points = s.points.map((p) => `${x(p.start).toFixed(1)},${y(p.value).toFixed(1)}`).join(" ");
      plot.append(svg("polyline", { points, fill: "none", stroke: color, "stroke-width": 2, "data-line": s.group.business_line ?? "" }));
      for (const p of s.points) {
        const dot = svg("circle", { cx: x(p.start), cy: y(p.value), r: 2.5, fill: color });
        dot.append(svg("title", {}, `${groupName(s.group.business_line)} ${p.start}: ${format(p.value, chart.digits, chart.unit)} (n=${p.n})`));
        plot.append(dot);
      }
      const last = s.points[s.points.length - 1];
      legend.append(kit.el("li", {}, kit.el("span", { class: `swatch c${i % COLORS.length}` }),
        `${groupName(s.group.business_line)} ${format(last.value, chart.digits, chart.unit)}`));
    });
    figure.append(plot, legend);
    return figure;
  }

  // The latest period's points of every series: "this week" as the insights service counts weeks.
  function latest(body) {
    const starts = body.series.flatMap((s) => s.points.map((p) => p.start));
    const newest = starts.sort().pop();
    return body.series.flatMap((s) => s.points.filter((p) => p.start === newest).map((p) => ({ group: s.group, point: p })));
  }

  async function slaTable() {
    const week = { interval: "week", group_by: "level" };
    const metrics = ["response_time", "resolution_time", "closure_rate", "callback_on_time", "callback_nps"];
    const bodies = await Promise.all(metrics.map((metric) => kit.api("GET", `/console/api/kpis?${query({ ...week, metric })}`)));
    const byLevel = (body) => Object.fromEntries(latest(body).map(({ group, point }) => [group.level, point]));
    const [answered, resolved, closed, onTime, callbackNps] = bodies.map(byLevel);
    const rows = ["L1", "L2", "L3", "L4"].map((level) => [
      level,
      answered[level] ? `${answered[level].compliance.toFixed(0)}% · ${answered[level].value.toFixed(0)} ${kit.t("m")}` : "—",
      resolved[level] ? `${resolved[level].compliance.toFixed(0)}% · ${resolved[level].value.toFixed(0)} ${kit.t("m")}` : "—",
      closed[level] ? `${closed[level].value.toFixed(0)}% (n=${closed[level].n})` : "—",
      onTime[level] ? `${onTime[level].value.toFixed(0)}% · NPS ${callbackNps[level].value.toFixed(0)} (n=${onTime[level].n})` : "—",
    ]);
    const headings = [kit.t("level"), kit.t("insAnswered"), kit.t("insResolved"), kit.t("insClosure"), kit.t("insCallbacks")];
    return kit.el("div", { class: "card" }, kit.el("h3", { text: kit.t("insSla") }), kit.table(headings, rows, "sla-table"));
  }

  async function worstCells() {
    const week = { interval: "week", group_by: "business_line,channel" };
    const [nps, negative] = await Promise.all([
      kit.api("GET", `/console/api/kpis?${query({ ...week, metric: "nps" })}`),
      kit.api("GET", `/console/api/kpis?${query({ ...week, metric: "negative_share" })}`),
    ]);
    const cells = [
      ...latest(nps).filter((c) => c.point.n >= MIN_N).sort((a, b) => a.point.value - b.point.value).slice(0, 5)
        .map((c) => ({ ...c, metric: "nps", shown: format(c.point.value, 0) })),
      ...latest(negative).filter((c) => c.point.n >= MIN_N).sort((a, b) => b.point.value - a.point.value).slice(0, 5)
        .map((c) => ({ ...c, metric: "negative_share", shown: format(c.point.value, 1, "%") })),
    ];
    const records = kit.el("div", { id: "cell-records" });
    const body = cells.map((c) => kit.el("tr", {},
      kit.el("td", { text: kit.t(c.metric === "nps" ? "insNps" : "insNegative") }),
      kit.el("td", { text: groupName(c.group.business_line) }),
      kit.el("td", { text: c.group.channel === null ? kit.t("insNone") : kit.term("channel", c.group.channel) }),
      kit.el("td", { text: c.shown }),
      kit.el("td", { text: String(c.point.n) }),
      kit.el("td", {}, kit.el("button", { type: "button", class: "secondary small", "data-cell": `${c.metric}:${c.group.business_line}:${c.group.channel}`,
        onclick: () => showRecords(records, c), text: kit.t("insView") }))));
    return kit.el("div", { class: "card" }, kit.el("h3", { text: kit.t("insWorst") }),
      cells.length ? kit.el("div", { class: "table-wrap" }, kit.el("table", { id: "worst-cells" },
        kit.el("thead", {}, kit.el("tr", {}, [kit.t("insMetric"), kit.t("insBusinessLine"), kit.t("insChannel"), kit.t("insValue"), kit.t("insResponses"), ""].map((h) => kit.el("th", { text: h })))),
        kit.el("tbody", {}, body))) : kit.el("p", { class: "muted", text: kit.t("insNoData") }),
      records);
  }

  async function showRecords(target, cell, cursor) {
    const start = cell.point.start;
    const end = new Date(Date.parse(`${start}T00:00:00Z`) + 6 * 86400000).toISOString().slice(0, 10);
    const params = { metric: cell.metric, interval: "week", from: start, to: end, limit: 20, cursor,
      business_line: cell.group.business_line ?? "", channel: cell.group.channel ?? "" };
    const page = await kit.api("GET", `/console/api/kpis/records?${query(params)}`);
    const rows = page.records.map((r) => kit.el("li", { class: "record" },
      kit.el("span", { class: "stars", text: kit.stars(r.stars || 0) }), " ",
      kit.el("span", { class: `label ${r.label}`, text: kit.term("label", r.label) }), " ",
      r.nps !== null ? kit.el("span", { class: "muted", text: `NPS ${r.nps}` }) : null, " ",
      kit.el("span", { class: "text", text: r.text || "—" }), " ",
      r.alert_id ? kit.el("a", { href: `#/alerts/${r.alert_id}`, text: kit.t("insAlert") }) : null));
    const more = page.next_cursor ? kit.el("button", { type: "button", class: "secondary small", text: kit.t("insMore"),
      onclick: () => showRecords(target, cell, page.next_cursor) }) : null;
    const heading = `${groupName(cell.group.business_line)} · ${cell.group.channel ?? kit.t("insNone")} · ${start}`;
    target.replaceChildren(kit.el("h4", { text: heading }), kit.el("ul", { class: "records", id: "records-list" }, rows), more);
  }

  async function load(consoleKit, into) {
    kit = consoleKit;
    const toggle = kit.el("div", { class: "interval-toggle" }, ["day", "week"].map((name) => kit.el("button", {
      type: "button", class: `chip-filter${interval === name ? " active" : ""}`, "data-interval": name,
      text: kit.t(name === "day" ? "insDaily" : "insWeekly"),
      onclick: () => { interval = name; load(kit, into); } })));
    try {
      const trends = await Promise.all(CHARTS.map((chart) => kpis({ metric: chart.metric, group_by: "business_line" })));
      const charts = kit.el("div", { class: "charts" }, CHARTS.map((chart, i) => lineChart(chart, busiest(trends[i].series))));
      into.replaceChildren(toggle, kit.el("div", { class: "card" }, kit.el("h3", { text: kit.t("insTrends") }), charts),
        await slaTable(), await worstCells());
    } catch (error) {
      if (error.message === "unauthorized") return;
      into.replaceChildren(toggle, kit.el("p", { class: "error", id: "insights-error", text: kit.t("insUnavailable", { error: error.message }) }));
    }
  }

  return { load };
})();
