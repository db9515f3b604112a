// Gateway dashboard: fills one application's page from /dashboard/api/... and draws its charts as inline SVG.
// Hand-written, no dependencies, shipped as package data (works offline). Data goes into the page only as text
// nodes and attribute values (never as markup), so names like "<script>" are shown, not run. Every number drawn
// also sits in a data-value attribute, exactly as the API answered it.
(function () {
  "use strict";
  var SVG = "http://www.w3.org/2000/svg";
  var root = document.getElementById("dash");
  if (!root) return;
  var appId = root.dataset.app;

  function el(tag, attrs) {
    var node = document.createElement(tag);
    setAttrs(node, attrs);
    for (var i = 2; i < arguments.length; i++) add(node, arguments[i]);
    return node;
  }
  function svg(tag, attrs) {
    var node = document.createElementNS(SVG, tag);
    setAttrs(node, attrs);
    for (var i = 2; i < arguments.length; i++) add(node, arguments[i]);
    return node;
  }
  function setAttrs(node, attrs) {
    if (!attrs) return;
    Object.keys(attrs).forEach(function (k) {
      if (attrs[k] !== null && attrs[k] !== undefined) node.setAttribute(k, String(attrs[k]));
    });
  }
  function add(node, child) {
    if (child === null || child === undefined) return;
    if (Array.isArray(child)) { child.forEach(function (c) { add(node, c); }); return; }
    node.appendChild(typeof child === "object" ? child : document.createTextNode(String(child)));
  }
  function fill(id, content) {
    var node = document.getElementById(id);
    node.replaceChildren();
    add(node, content);
  }

  function count(n) { return Math.round(n).toLocaleString("en-US"); }
  function percent(r) { return (r * 100).toFixed(1) + "%"; }
  function shortDay(day) { return day.slice(5); }

  function query() {
    var p = new URLSearchParams();
    if (root.dataset.start) p.set("start", root.dataset.start);
    if (root.dataset.end) p.set("end", root.dataset.end);
    var s = p.toString();
    return s ? "?" + s : "";
  }
  function getJson(path) {
    return fetch(path, {credentials: "same-origin", headers: {Accept: "application/json"}}).then(function (r) {
      if (r.status === 401) {
        location.href = "/dashboard/login?next=" + encodeURIComponent(location.pathname + location.search);
        throw new Error("Your session ended: log in again.");
      }
      return r.json().then(function (body) {
        if (!r.ok) throw new Error(body.Message || (r.status + " " + r.statusText));
        return body;
      });
    });
  }

  // ---- charts ------------------------------------------------------------------------------------------

  // Axis ticks: a step of 1, 2 or 5 times a power of ten (at least `least`) giving about five intervals.
  function ticks(max, least) {
    if (max <= 0) return {step: least, top: least * 5};
    var raw = max / 5, p = Math.pow(10, Math.floor(Math.log10(raw))), step = 10 * p;
    [1, 2, 5].some(function (m) { if (m * p >= raw) { step = m * p; return true; } return false; });
    step = Math.max(step, least);
    return {step: step, top: step * Math.ceil(max / step - 1e-9)};
  }

  // Grouped bars: labels along x, one bar per series per label, y axis with 5 ticks, a legend.
  function barChart(labels, series, opts) {
    opts = opts || {};
    var W = 760, H = 250, L = 56, R = 12, T = 28, B = 42;
    var axis = ticks(Math.max.apply(null, [0].concat.apply([], series.map(function (s) { return s.values; }))), 1);
    var max = axis.top, plotW = W - L - R, plotH = H - T - B;
    var g = svg("svg", {viewBox: "0 0 " + W + " " + H, class: "bars", role: "img", "aria-label": opts.label || ""});
    for (var v = 0; v <= max + 1e-9; v += axis.step) {
      var y = T + plotH - plotH * v / max;
      add(g, svg("line", {x1: L, x2: W - R, y1: y, y2: y, class: v ? "grid" : "axis"}));
      add(g, svg("text", {x: L - 6, y: y + 4, class: "tick", "text-anchor": "end"}, count(v)));
    }
    var band = plotW / Math.max(labels.length, 1), every = Math.ceil(labels.length / 12);
    var bw = Math.max(1, (band * 0.8) / series.length);
    labels.forEach(function (label, i) {
      var x0 = L + band * i + band * 0.1;
      series.forEach(function (s, j) {
        var value = s.values[i], h = plotH * value / max;
        add(g, svg("rect", {x: x0 + bw * j, y: T + plotH - h, width: Math.max(bw - 1, 1), height: h,
                            class: "bar " + s.cls, "data-series": s.name, "data-key": opts.keys ? opts.keys[i] : label,
                            "data-value": value},
                   svg("title", null, label + " · " + s.name + ": " + count(value))));
      });
      if (i % every === 0) {
        add(g, svg("text", {x: L + band * (i + 0.5), y: H - B + 16, class: "tick", "text-anchor": "middle"},
                   opts.short ? shortDay(label) : label));
      }
    });
    series.forEach(function (s, j) {
      add(g, svg("rect", {x: L + j * 110, y: 6, width: 12, height: 12, class: "bar " + s.cls}));
      add(g, svg("text", {x: L + j * 110 + 16, y: 16, class: "legend"}, s.name));
    });
    return g;
  }

  // A line with points over labels; values are rates (0..1).
  function lineChart(labels, values, name) {
    var W = 760, H = 200, L = 56, R = 12, T = 14, B = 42;
    var plotW = W - L - R, plotH = H - T - B;
    var g = svg("svg", {viewBox: "0 0 " + W + " " + H, class: "line", role: "img", "aria-label": name});
    for (var t = 0; t <= 4; t++) {
      var y = T + plotH - plotH * t / 4;
      add(g, svg("line", {x1: L, x2: W - R, y1: y, y2: y, class: t ? "grid" : "axis"}));
      add(g, svg("text", {x: L - 6, y: y + 4, class: "tick", "text-anchor": "end"}, percent(t / 4)));
    }
    var step = plotW / Math.max(labels.length, 1), every = Math.ceil(labels.length / 12), pts = [];
    labels.forEach(function (label, i) {
      var x = L + step * (i + 0.5), y = T + plotH - plotH * Math.min(values[i], 1);
      pts.push(x.toFixed(1) + "," + y.toFixed(1));
      add(g, svg("circle", {cx: x, cy: y, r: 3.5, class: "point", "data-series": name, "data-key": label,
                            "data-value": values[i]}, svg("title", null, label + ": " + percent(values[i]))));
      if (i % every === 0) {
        add(g, svg("text", {x: x, y: H - B + 16, class: "tick", "text-anchor": "middle"}, shortDay(label)));
      }
    });
    g.insertBefore(svg("polyline", {points: pts.join(" "), class: "trace"}), g.querySelector("circle"));
    return g;
  }

  // Funnel: one centred bar per step, its width the step's share of the first step, with the step's value and
  // its share of the previous step.
  function funnel(steps) {
    var W = 760, row = 46, H = steps.length * row + 8, mid = 515, maxW = 470;
    var top = Math.max.apply(null, steps.map(function (s) { return s.value; }).concat([1]));
    var g = svg("svg", {viewBox: "0 0 " + W + " " + H, class: "funnel", role: "img", "aria-label": "delivery funnel"});
    steps.forEach(function (s, i) {
      var w = Math.max(2, maxW * s.value / top), y = 4 + i * row;
      var prev = i ? steps[i - 1].value : 0;
      add(g, svg("rect", {x: mid - w / 2, y: y, width: w, height: row - 10, rx: 3, class: "step " + s.key,
                          "data-counter": s.key, "data-value": s.value}, svg("title", null, s.label + ": " + count(s.value))));
      add(g, svg("text", {x: 10, y: y + 23, class: "label"}, s.label));
      add(g, svg("text", {x: 105, y: y + 23, class: "value"}, count(s.value)));
      if (i) add(g, svg("text", {x: 170, y: y + 23, class: "share"}, prev ? percent(s.value / prev) + " of " + steps[i - 1].label.toLowerCase() : "–"));
    });
    return g;
  }

  function tile(label, value, text, attrs) {
    return el("div", Object.assign({class: "tile", "data-value": value}, attrs), el("span", {class: "tile-value"}, text),
              el("span", {class: "tile-label"}, label));
  }

  function meter(value, max) {
    var w = max > 0 ? Math.round(100 * value / max) : 0;
    return svg("svg", {viewBox: "0 0 100 8", class: "meter", preserveAspectRatio: "none"},
               svg("rect", {x: 0, y: 0, width: Math.max(w, value > 0 ? 1 : 0), height: 8, class: "bar sent"}));
  }

  // ---- sections ----------------------------------------------------------------------------------------

  var KPI_LABELS = {"successful-delivery-rate": "Successful delivery rate", "unique-deliveries": "Unique deliveries",
                    "email-open-rate": "Email open rate"};
  var FUNNEL = [["sent", "Sent"], ["delivered", "Delivered"], ["opened", "Opened"], ["clicked", "Clicked"]];
  var OTHER = [["hardbounced", "Hard bounces"], ["softbounced", "Soft bounces"], ["complained", "Complaints"],
               ["unsubscribed", "Opt-outs"], ["rejected", "Rejected"]];

  function drawOverview(o) {
    document.getElementById("start").value = o.range.start.slice(0, 10);
    document.getElementById("end").value = o.range.end.slice(0, 10);
    var tiles = ["sent", "delivered", "failed"].map(function (k) {
      return tile(k.charAt(0).toUpperCase() + k.slice(1) + " (all channels)", o.totals[k], count(o.totals[k]), {"data-total": k});
    });
    Object.keys(KPI_LABELS).forEach(function (k) {
      var v = o.kpis[k];
      tiles.push(tile(KPI_LABELS[k], v, k === "unique-deliveries" ? count(v) : percent(v), {"data-kpi": k}));
    });
    fill("tiles", tiles);
    fill("daily", barChart(o.range.days, [
      {name: "sent", cls: "sent", values: o.daily.sent},
      {name: "delivered", cls: "delivered", values: o.daily.delivered},
      {name: "failed", cls: "failed", values: o.daily.failed}], {short: true, label: "sends per day"}));
    fill("rate", lineChart(o.range.days, o.delivery_rate, "successful-delivery-rate-grouped-by-date"));
    var steps = FUNNEL.map(function (s) { return {key: s[0], label: s[1], value: o.funnel[s[0]]}; });
    var others = OTHER.map(function (s) { return tile(s[1], o.funnel[s[0]], count(o.funnel[s[0]]), {"data-counter": s[0]}); });
    fill("funnel", [funnel(steps), el("div", {class: "tiles small"}, others),
                    el("p", {class: "hint"}, "Email only. Opens and clicks count every open and click event.")]);
  }

  var CAMPAIGN_COLS = [["sent", "Sent"], ["delivered", "Delivered"], ["opened", "Opened"], ["clicked", "Clicked"],
                       ["hardbounced", "Hard bounces"], ["complained", "Complaints"], ["unsubscribed", "Opt-outs"]];
  var CAMPAIGN_KPIS = [["successful-delivery-rate", "Delivery rate"], ["email-open-rate", "Open rate"],
                       ["unique-deliveries", "Unique deliveries"], ["hard-bounce-rate", "Hard-bounce rate"]];

  function kpiText(name, v) { return name === "unique-deliveries" ? count(v) : percent(v); }

  // Per treatment, across every run of the campaign in the range: the API's sums of the per-activity counts
  // and the rates of those sums. Holdout and unmapped activities are rows of their own (treatment id "holdout" /
  // null).
  var TREATMENT_COLS = [["sent", "Sent"], ["delivered", "Delivered"], ["failed", "Failed"], ["opened", "Opened"],
                        ["clicked", "Clicked"], ["hardbounced", "Hard bounces"], ["softbounced", "Soft bounces"],
                        ["complained", "Complaints"], ["unsubscribed", "Opt-outs"]];
  var TREATMENT_RATES = [["successful-delivery-rate", "Delivery rate"], ["open-rate", "Opens / delivered"],
                         ["click-rate", "Clicks / delivered"], ["hard-bounce-rate", "Hard-bounce rate"],
                         ["complaint-rate", "Complaint rate"], ["opt-out-rate", "Opt-out rate"]];
  var TREATMENT_BARS = ["sent", "delivered", "failed", "opened", "clicked"];

  function clip(text, n) { return text.length > n ? text.slice(0, n - 1) + "…" : text; }
  function treatmentKey(t) { return t.treatment_id === null ? "unmapped" : t.treatment_id; }
  function treatmentLabel(t) { return t.size_percent === null ? t.name : t.name + " (" + t.size_percent + "%)"; }

  function drawTreatments(camp) {
    var ts = camp.by_treatment;
    var head = el("tr", null, el("th", null, "Treatment"), TREATMENT_COLS.map(function (x) { return el("th", null, x[1]); }),
                  TREATMENT_RATES.map(function (x) { return el("th", null, x[1]); }), el("th", null, "Activities"));
    var rows = ts.map(function (t) {
      return el("tr", {class: "treatment-total" + (t.holdout ? " holdout" : ""), "data-campaign": camp.campaign_id,
                       "data-treatment": treatmentKey(t)},
        el("td", {class: "who"}, treatmentLabel(t)),
        TREATMENT_COLS.map(function (x) {
          return el("td", {class: "num", "data-field": x[0], "data-value": t.counts[x[0]]}, count(t.counts[x[0]]));
        }),
        TREATMENT_RATES.map(function (x) {
          return el("td", {class: "num", "data-rate": x[0], "data-value": t.rates[x[0]]}, percent(t.rates[x[0]]));
        }),
        el("td", {class: "num", "data-activities": t.activities.join(" ")}, String(t.activities.length)));
    });
    var any = ts.some(function (t) { return t.counts.sent > 0; });
    var series = TREATMENT_BARS.map(function (k) {
      return {name: k, cls: k, values: ts.map(function (t) { return t.counts[k]; })};
    });
    return el("div", {class: "by-treatment", "data-campaign": camp.campaign_id},
      el("h3", null, camp.name === null ? "(no stored campaign)" : camp.name, " ", el("code", null, camp.campaign_id)),
      el("p", {class: "hint"}, "Per treatment, every run in the range added up; rates are of the summed counts " +
         "(email rates over email sends and deliveries; opens and clicks count events)."),
      any ? el("div", {class: "chart small"}, barChart(ts.map(function (t) { return clip(treatmentLabel(t), 28); }), series,
                                                        {keys: ts.map(treatmentKey), label: "results per treatment"}))
          : el("p", {class: "empty"}, "Nothing sent in this range."),
      el("div", {class: "scroll"}, el("table", {class: "treatments"}, el("thead", null, head), el("tbody", null, rows))));
  }

  function drawCampaigns(c) {
    if (!c.campaigns.length) {
      fill("campaigns", el("p", {class: "empty", id: "no-campaigns"}, "No campaigns in this application yet."));
      return;
    }
    var max = Math.max.apply(null, c.campaigns.map(function (x) { return x.counts.sent; }).concat([0]));
    var head = el("tr", null, el("th", null, "Campaign"), el("th", null, ""),
                  CAMPAIGN_COLS.map(function (x) { return el("th", null, x[1]); }),
                  CAMPAIGN_KPIS.map(function (x) { return el("th", null, x[1]); }));
    var rows = [];
    c.campaigns.forEach(function (camp) {
      rows.push(el("tr", {class: "campaign", "data-campaign": camp.campaign_id},
        el("td", {class: "who"}, el("span", {class: "name"}, camp.name === null ? "(no stored campaign)" : camp.name),
           el("code", null, camp.campaign_id)),
        el("td", {class: "meter-cell"}, meter(camp.counts.sent, max)),
        CAMPAIGN_COLS.map(function (x) {
          return el("td", {class: "num", "data-field": x[0], "data-value": camp.counts[x[0]]}, count(camp.counts[x[0]]));
        }),
        CAMPAIGN_KPIS.map(function (x) {
          return el("td", {class: "num", "data-kpi": x[0], "data-value": camp.kpis[x[0]]}, kpiText(x[0], camp.kpis[x[0]]));
        })));
      camp.treatments.forEach(function (t) {
        var label = t.treatment_id === null ? "activity " + t.activity_id
          : (t.treatment_name || "Treatment " + t.treatment_id) + " · activity " + t.activity_id;
        rows.push(el("tr", {class: "treatment", "data-campaign": camp.campaign_id, "data-activity": t.activity_id},
          el("td", {class: "indent who"}, label), el("td", null, ""),
          CAMPAIGN_COLS.map(function (x) {
            var v = t.counts[x[0]];
            return v === undefined ? el("td", null, "") : el("td", {class: "num", "data-field": x[0], "data-value": v}, count(v));
          }),
          CAMPAIGN_KPIS.map(function (x) {
            return el("td", {class: "num", "data-kpi": x[0], "data-value": t.kpis[x[0]]}, kpiText(x[0], t.kpis[x[0]]));
          })));
      });
    });
    // campaigns the store knows (their treatments are named); one the store does not know has only its
    // unmapped activities, whose total is the campaign's row already
    var blocks = c.campaigns.filter(function (camp) {
      return camp.by_treatment.some(function (t) { return t.treatment_id !== null; });
    }).map(drawTreatments);
    fill("campaigns", [blocks, el("h3", null, "Per run (campaign activities)"),
                       el("div", {class: "scroll"}, el("table", {class: "campaigns"}, el("thead", null, head), el("tbody", null, rows)))]);
  }

  var JOURNEY_WORDS = [["sent", "Sent"], ["delivered", "Delivered"], ["opened", "Opened"], ["clicked", "Clicked"],
                       ["hardbounced", "Hard bounces"], ["softbounced", "Soft bounces"], ["complained", "Complaints"],
                       ["unsubscribed", "Opt-outs"], ["rejected", "Rejected"]];

  function drawJourneys(j) {
    if (!j.journeys.length) {
      fill("journeys", el("p", {class: "empty", id: "no-journeys"},
        "No journeys: no journey sent email in this range. (Gateway does not run journeys yet; this section " +
        "fills from journey events when they exist.)"));
      return;
    }
    fill("journeys", j.journeys.map(function (jr) {
      var acts = jr.activities.map(function (a) { return a.activity_id; });
      var series = FUNNEL.map(function (w) {
        return {name: w[0], cls: w[0], values: jr.activities.map(function (a) { return a.counts[w[0]]; })};
      });
      return el("div", {class: "journey", "data-journey": jr.journey_id},
        el("h3", null, "Journey ", el("code", null, jr.journey_id)),
        el("div", {class: "tiles small"}, JOURNEY_WORDS.map(function (w) {
          return tile(w[1], jr.counts[w[0]], count(jr.counts[w[0]]), {"data-kpi": "journey-emails-" + w[0]});
        })),
        el("div", {class: "chart"}, barChart(acts, series, {label: "funnel by activity"})));
    }));
  }

  var lagTimer = null;
  function drawLag(report) {
    var groups = report.groups;
    if (!groups.length) {
      fill("lag", el("p", {class: "empty"}, "No consumer groups yet (no worker has read the streams)."));
      return;
    }
    var max = Math.max.apply(null, groups.map(function (x) { return Math.max(x.lag, x.pending); }).concat([1]));
    fill("lag", [el("table", {class: "lag"},
      el("thead", null, el("tr", null, ["Stream", "Group", "Lag", "", "Pending", "", "Consumers"].map(function (h) { return el("th", null, h); }))),
      el("tbody", null, groups.map(function (x) {
        return el("tr", {"data-stream": x.stream, "data-group": x.group},
          el("td", null, el("code", null, x.stream)), el("td", null, x.group),
          el("td", {class: "num", "data-field": "lag", "data-value": x.lag}, count(x.lag)), el("td", {class: "meter-cell"}, meter(x.lag, max)),
          el("td", {class: "num", "data-field": "pending", "data-value": x.pending}, count(x.pending)), el("td", {class: "meter-cell"}, meter(x.pending, max)),
          el("td", {class: "num"}, count(x.consumers)));
      }))),
      el("p", {class: "hint"}, "Sampled " + new Date(report.at_ms).toISOString().replace("T", " ").slice(0, 19) + " UTC; refreshed every 5 s.")]);
  }
  function refreshLag() {
    return getJson("/dashboard/api/lag").then(drawLag, function (e) { fill("lag", el("p", {class: "error"}, e.message)); })
      .then(function () { lagTimer = setTimeout(refreshLag, 5000); });
  }

  function notice(message) {
    var n = document.getElementById("notice");
    n.hidden = false;
    n.textContent = message;
  }

  var base = "/dashboard/api/apps/" + encodeURIComponent(appId) + "/";
  var q = query();
  var jobs = [
    getJson(base + "overview" + q).then(drawOverview),
    getJson(base + "campaigns" + q).then(drawCampaigns),
    getJson(base + "journeys" + q).then(drawJourneys),
    refreshLag()
  ];
  Promise.allSettled(jobs).then(function (results) {
    var failed = results.filter(function (r) { return r.status === "rejected"; });
    if (failed.length) notice(failed[0].reason.message);
    root.dataset.ready = failed.length ? "error" : "1";
  });
  window.addEventListener("pagehide", function () { if (lagTimer) clearTimeout(lagTimer); });
})();
