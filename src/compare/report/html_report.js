// Draws the report's charts from the JSON that html_report.cc embeds: per token, one column per
// operation in execution order and three panels (output cosine, relative L2, max relative error),
// layers as bands, root causes marked, operations named on the x-axis and on hover. Plain SVG,
// linear in the number of operations; redrawn to the page's width when the window is resized.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("ait-data").textContent);
  var NS = "http://www.w3.org/2000/svg";
  var body = document.getElementById("charts-body");
  var MIN_STEP = 2, MAX_WIDTH = 40000;          // px per operation at least; beyond the page, it scrolls
  var LABEL_GAP = 14, LABEL_CHARS = 30, CHAR_W = 5.6, SIN = Math.sin(Math.PI / 3);  // x labels at -60 degrees
  var M = {l: 84, r: 18, t: 26}, PH = 140, GAP = 40;

  function el(name, attrs, parent) {
    var e = document.createElementNS(NS, name);
    for (var k in attrs) e.setAttribute(k, attrs[k]);
    if (parent) parent.appendChild(e);
    return e;
  }
  function text(parent, x, y, s, cls, anchor) {
    var t = el("text", {x: x, y: y, "class": cls, "text-anchor": anchor || "start"}, parent);
    t.textContent = s;
    return t;
  }
  function titled(node, s) {
    el("title", {}, node).textContent = s;
    return node;
  }
  function fmt(v, digits) { return v === null ? "-" : Number(v).toPrecision(digits); }
  // A long name keeps its start and its end: "LinearOperation_2_9:MatMul", "root.model....mlp.gate_proj".
  function shorten(s) {
    return s.length <= LABEL_CHARS ? s : s.slice(0, 12) + "\u2026" + s.slice(s.length - (LABEL_CHARS - 13));
  }
  function typed(name, type) { return name + (type ? " [" + type + "]" : ""); }
  // Everything a point stands for: its hover label, one line per fact.
  function describe(tok, o) {
    return [
      "#" + o.i + " " + typed(o.n, o.t),
      "golden: " + typed(o.g, o.gt),
      "token " + tok + (o.l ? ", layer " + o.l : ""),
      "verdict: " + o.v + (o.ca ? " (" + o.ca + ")" : "") + (o.rc ? ", ROOT CAUSE #" + o.rc : ""),
      "output: cosine " + fmt(o.c, 8) + ", rel. L2 " + fmt(o.l2, 4) + ", max rel. err " + fmt(o.r, 4) +
        (o.nf ? ", holds NaN/inf" : ""),
      "inputs: cosine " + fmt(o.ic, 8) + ", rel. L2 " + fmt(o.il2, 4)
    ];
  }

  // A log10 scale over whole decades holding every positive value (and the threshold, if any).
  // Zeros, and values below 1e-12, sit on its bottom line, labelled "<=".
  function logScale(ops, key, threshold) {
    var mn = Infinity, mx = -Infinity, zero = false;
    ops.forEach(function (o) {
      var v = o[key];
      if (v !== null && v > 0 && isFinite(v)) { mn = Math.min(mn, v); mx = Math.max(mx, v); }
      else if (v !== null && v <= 0) zero = true;
    });
    if (!isFinite(mn)) { mn = 1e-6; mx = 1; }
    if (threshold) { mn = Math.min(mn, threshold); mx = Math.max(mx, threshold); }
    var lo = Math.max(-12, Math.floor(Math.log10(mn))), hi = Math.min(40, Math.ceil(Math.log10(mx)));
    if (hi <= lo) hi = lo + 1;
    var ticks = [], every = Math.max(1, Math.ceil((hi - lo) / 5));
    for (var d = lo; d <= hi; d += every) ticks.push([Math.pow(10, d), "1e" + d]);
    if (zero || mn < 1e-12) ticks[0][1] = "\u2264" + ticks[0][1];
    return {
      frac: function (v) {  // 0 at the top, 1 at the bottom; zero sits on the bottom
        var l = v > 0 ? Math.log10(v) : lo;
        return (hi - Math.min(hi, Math.max(lo, l))) / (hi - lo);
      },
      ticks: ticks
    };
  }
  // Linear, from below the lowest point (or the threshold) to 1.
  function cosineScale(ops) {
    var cmin = data.threshold;
    ops.forEach(function (o) { if (o.c !== null && o.c < cmin) cmin = o.c; });
    cmin = Math.max(-1, cmin - Math.max(1e-4, (1 - cmin) * 0.1));
    var cmax = 1 + (1 - cmin) * 0.03, ticks = [];
    for (var k = 0; k <= 4; k++) {
      var c = cmin + (cmax - cmin) * k / 4;
      ticks.push([c, c.toFixed(cmax - cmin < 0.01 ? 5 : 3)]);
    }
    return {frac: function (c) { return (cmax - c) / (cmax - cmin); }, ticks: ticks};
  }

  // The x-axis labels: root causes always, the others wherever LABEL_GAP px are free. O(n).
  function labelled(ops, x) {
    var forced = [], shown = [], last = -Infinity, f = 0;
    ops.forEach(function (o, i) { if (o.rc) forced.push(i); });
    for (var i = 0; i < ops.length; i++) {
      while (f < forced.length && forced[f] < i) f++;
      var must = f < forced.length && forced[f] === i;
      if (must || (x(i) - last >= LABEL_GAP && (f === forced.length || x(forced[f]) - x(i) >= LABEL_GAP))) {
        shown.push(i);
        last = x(i);
      }
    }
    return shown;
  }

  function chart(tok, width) {
    var ops = tok.ops, n = ops.length;
    var fig = document.createElement("figure");
    fig.className = "token";
    fig.setAttribute("data-token", tok.token);
    var cap = document.createElement("figcaption");
    cap.textContent = "token " + tok.token + " \u2014 " + n + " operations in execution order";
    fig.appendChild(cap);
    var readout = document.createElement("div");
    readout.className = "readout";
    readout.textContent = "Point at the chart to name an operation.";
    fig.appendChild(readout);

    var W = Math.max(width - 2, Math.min(MAX_WIDTH, n * MIN_STEP + M.l + M.r));
    var span = W - M.l - M.r, step = n > 1 ? span / (n - 1) : span;
    function x(i) { return n > 1 ? M.l + i * step : M.l + span / 2; }
    var panels = [
      {key: "c", cls: "pt-cos", title: "output cosine", scale: cosineScale(ops), threshold: data.threshold},
      {key: "l2", cls: "pt-l2", title: "output rel. L2 (log)", scale: logScale(ops, "l2", data.distance_threshold),
       threshold: data.distance_threshold},
      {key: "r", cls: "pt-rel", title: "output max rel. err (log)", scale: logScale(ops, "r", 0)}
    ];
    panels.forEach(function (p, k) {
      p.top = M.t + k * (PH + GAP);
      p.y = function (v) { return p.top + p.scale.frac(v) * PH; };
    });
    var bottom = panels[2].top + PH;
    var shown = labelled(ops, x), longest = 0;
    shown.forEach(function (i) { longest = Math.max(longest, shorten(ops[i].n).length); });
    var H = bottom + 16 + Math.ceil(longest * CHAR_W * SIN);
    var svg = el("svg", {width: W, height: H, viewBox: "0 0 " + W + " " + H, "class": "chart",
                         "data-token": tok.token, "data-operations": n}, fig);

    // Layer bands through every panel, named above the first.
    var band = 0;
    for (var s = 0, i = 1; i <= n; i++) {
      if (i === n || ops[i].l !== ops[s].l) {
        if (ops[s].l) {
          var x0 = Math.max(M.l - 4, x(s) - step / 2), x1 = Math.min(W - M.r + 4, x(i - 1) + step / 2);
          titled(el("rect", {x: x0, y: M.t, width: Math.max(1, x1 - x0), height: bottom - M.t,
                             "class": "band" + (band % 2 ? " odd" : ""), "data-layer": ops[s].l}, svg),
                 "layer " + ops[s].l);
          var name = ops[s].l, number = (/\d+$/.exec(name) || [""])[0];  // too narrow: its number only
          if (x1 - x0 < name.length * 6.5) name = x1 - x0 >= Math.max(12, number.length * 7) ? number : "";
          if (name) text(svg, (x0 + x1) / 2, M.t - 6, name, "band-label", "middle");
          band++;
        }
        s = i;
      }
    }
    // Axes, grid, thresholds.
    panels.forEach(function (p) {
      p.scale.ticks.forEach(function (t) {
        var y = p.y(t[0]);
        el("line", {x1: M.l, y1: y, x2: W - M.r, y2: y, "class": "grid"}, svg);
        text(svg, M.l - 4, y + 3, t[1], "tick", "end");
      });
      el("line", {x1: M.l, y1: p.top, x2: M.l, y2: p.top + PH, "class": "axis"}, svg);
      el("line", {x1: M.l, y1: p.top + PH, x2: W - M.r, y2: p.top + PH, "class": "axis"}, svg);
      var t = text(svg, 0, 0, p.title, "title", "middle");
      t.setAttribute("transform", "translate(14," + (p.top + PH / 2) + ") rotate(-90)");
      if (p.threshold) {
        var ty = p.y(p.threshold);
        el("line", {x1: M.l, y1: ty, x2: W - M.r, y2: ty, "class": "thr"}, svg);
        text(svg, W - M.r - 2, ty - 3, "threshold " + Number(p.threshold.toPrecision(4)), "tick", "end");
      }
    });
    // Root causes: a line through every panel and the name, staggered when several.
    var nrc = 0;
    ops.forEach(function (o, i) {
      if (!o.rc) return;
      el("line", {x1: x(i), y1: M.t, x2: x(i), y2: bottom, "class": "rc-line", "data-op": o.i}, svg);
      var name = "root cause #" + o.rc + ": " + o.n + (o.g && o.g !== o.n ? " ~ " + o.g : "");
      var ly = panels[1].top - 8 - 13 * (nrc++ % 2);
      text(svg, x(i) + (x(i) > W / 2 ? -4 : 4), ly, name, "rc-label", x(i) > W / 2 ? "end" : "start");
    });
    // Points: one per operation with a value, in each panel; NaN/inf outputs as triangles (at the
    // bottom of the cosine panel, the top of the error panels). Each carries its hover label.
    ops.forEach(function (o, i) {
      var label = describe(tok.token, o).join("\n");
      var cls = "pt v-" + o.v + (o.lf ? "" : " container") + (o.rc ? " rc" : "");
      var rad = o.rc ? 5 : (o.lf ? 2.6 : 3.6), cx = x(i);
      panels.forEach(function (p, k) {
        if (o[p.key] !== null) {
          var dot = el("circle", {cx: cx, cy: p.y(o[p.key]), r: rad, "class": cls + " " + p.cls, "data-op": o.i}, svg);
          titled(dot, label);
        }
        if (o.nf) {
          var by = k === 0 ? p.top + PH - 2 : p.top + 12, h = o.rc ? 8 : 5;
          var d = "M" + (cx - h) + "," + by + "L" + (cx + h) + "," + by + "L" + cx + "," + (by - 1.8 * h) + "Z";
          titled(el("path", {d: d, "class": "nf nf-" + p.cls.slice(3) + (o.rc ? " rc" : ""), "data-op": o.i}, svg), label);
        }
      });
    });
    // The x-axis: operations named (my names), thinned out to what fits.
    shown.forEach(function (i) {
      var o = ops[i], lx = x(i), ly = bottom + 10;
      el("line", {x1: lx, y1: bottom, x2: lx, y2: bottom + 4, "class": "axis"}, svg);
      var t = text(svg, lx, ly, shorten(o.n), "xlabel" + (o.rc ? " rc" : "") + (o.lf ? "" : " outer"), "end");
      t.setAttribute("transform", "rotate(-60 " + lx + " " + ly + ")");
      t.setAttribute("data-op", o.i);
      titled(t, o.n + " ~ " + o.g);
    });
    // Pointing anywhere in a column names its operation in the readout line.
    var cursor = el("line", {x1: 0, y1: M.t, x2: 0, y2: bottom, "class": "cursor", visibility: "hidden"}, svg);
    var current = -1;
    svg.addEventListener("mousemove", function (ev) {
      var px = ev.clientX - svg.getBoundingClientRect().left;
      var i = n > 1 ? Math.round((px - M.l) / step) : 0;
      if (i < 0 || i >= n) return;
      cursor.setAttribute("x1", x(i));
      cursor.setAttribute("x2", x(i));
      cursor.setAttribute("visibility", "visible");
      if (i !== current) {
        current = i;
        readout.textContent = describe(tok.token, ops[i]).join(" \u00b7 ");
        readout.className = "readout" + (ops[i].rc ? " rc" : "");
      }
    });
    svg.addEventListener("mouseleave", function () { cursor.setAttribute("visibility", "hidden"); });
    return fig;
  }

  function render() {
    var width = body.clientWidth || 1000;
    var figures = document.createDocumentFragment();
    data.tokens.forEach(function (tok) { figures.appendChild(chart(tok, width)); });
    body.textContent = "";
    body.appendChild(figures);
    return width;
  }
  var drawn = render(), pending = 0;
  window.addEventListener("resize", function () {
    clearTimeout(pending);
    pending = setTimeout(function () { if (body.clientWidth !== drawn) drawn = render(); }, 150);
  });
  document.body.setAttribute("data-rendered", "1");
})();
