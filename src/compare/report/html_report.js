(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("ait-data").textContent);
  var NS = "http://www.w3.org/2000/svg";
  var tip = document.getElementById("tip");
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
  function fmt(v, digits) { return v === null ? "-" : Number(v).toPrecision(digits); }
  function hover(node, tok, o) {
    node.addEventListener("mouseenter", function (ev) {
      tip.textContent = o.n + (o.t ? " [" + o.t + "]" : "") + "\ntoken " + tok + (o.l ? ", layer " + o.l : "") +
        "\nverdict: " + o.v + (o.rc ? " (ROOT CAUSE)" : "") +
        "\noutput cosine " + fmt(o.c, 8) + ", max rel err " + fmt(o.r, 4) +
        (o.nf ? "\noutput holds NaN/inf" : "") + "\ninput cosine " + fmt(o.ic, 8);
      tip.style.display = "block";
      tip.style.left = (ev.pageX + 12) + "px";
      tip.style.top = (ev.pageY + 12) + "px";
    });
    node.addEventListener("mouseleave", function () { tip.style.display = "none"; });
  }
  var body = document.getElementById("charts-body");
  data.tokens.forEach(function (tok) {
    var ops = tok.ops, n = ops.length;
    var fig = document.createElement("figure");
    fig.className = "token";
    fig.setAttribute("data-token", tok.token);
    var cap = document.createElement("figcaption");
    cap.textContent = "token " + tok.token + " \u2014 " + n + " operations in execution order";
    fig.appendChild(cap);
    var M = {l: 86, r: 16, t: 24, b: 26}, PH = 170, GAP = 34;
    var W = Math.max(760, Math.min(4000, n * 7 + M.l + M.r)), H = M.t + PH + GAP + PH + M.b;
    var svg = el("svg", {width: W, height: H, viewBox: "0 0 " + W + " " + H, "class": "chart",
                         "data-token": tok.token, "data-operations": n}, fig);
    var span = W - M.l - M.r, step = n > 1 ? span / (n - 1) : span;
    function x(i) { return n > 1 ? M.l + i * step : M.l + span / 2; }
    var top1 = M.t, top2 = M.t + PH + GAP;
    // Cosine panel: linear, from below the lowest point (or the threshold) to 1.
    var cmin = data.threshold;
    ops.forEach(function (o) { if (o.c !== null && o.c < cmin) cmin = o.c; });
    cmin = Math.max(-1, cmin - Math.max(1e-4, (1 - cmin) * 0.1));
    var cmax = 1 + (1 - cmin) * 0.03;
    function yc(c) { return top1 + (cmax - c) / (cmax - cmin) * PH; }
    // Max relative error panel: log10, whole decades.
    var rmin = Infinity, rmax = -Infinity;
    ops.forEach(function (o) { if (o.r !== null && o.r > 0) { rmin = Math.min(rmin, o.r); rmax = Math.max(rmax, o.r); } });
    if (!isFinite(rmin)) { rmin = 1e-6; rmax = 1; }
    var lo = Math.max(-12, Math.floor(Math.log10(rmin))), hi = Math.min(40, Math.ceil(Math.log10(rmax)));
    if (hi <= lo) hi = lo + 1;
    function yr(r) {
      var v = r > 0 ? Math.log10(r) : lo;
      v = Math.min(hi, Math.max(lo, v));
      return top2 + (hi - v) / (hi - lo) * PH;
    }
    // Layer bands across both panels.
    var band = 0;
    for (var s = 0, i = 1; i <= n; i++) {
      if (i === n || ops[i].l !== ops[s].l) {
        if (ops[s].l) {
          var x0 = Math.max(M.l - 4, x(s) - step / 2), x1 = Math.min(W - M.r + 4, x(i - 1) + step / 2);
          el("rect", {x: x0, y: top1, width: Math.max(1, x1 - x0), height: top2 + PH - top1,
                      "class": "band" + (band % 2 ? " odd" : ""), "data-layer": ops[s].l}, svg);
          if (x1 - x0 > 40) text(svg, (x0 + x1) / 2, top1 - 6, ops[s].l, "band-label", "middle");
          band++;
        }
        s = i;
      }
    }
    // Axes, grid, threshold.
    [[top1, "output cosine similarity"], [top2, "output max rel. error (log)"]].forEach(function (p) {
      el("line", {x1: M.l, y1: p[0], x2: M.l, y2: p[0] + PH, "class": "axis"}, svg);
      el("line", {x1: M.l, y1: p[0] + PH, x2: W - M.r, y2: p[0] + PH, "class": "axis"}, svg);
      var t = text(svg, 0, 0, p[1], "title", "middle");
      t.setAttribute("transform", "translate(14," + (p[0] + PH / 2) + ") rotate(-90)");
    });
    for (var k = 0; k <= 4; k++) {
      var c = cmin + (cmax - cmin) * k / 4, y = yc(c);
      el("line", {x1: M.l, y1: y, x2: W - M.r, y2: y, "class": "grid"}, svg);
      text(svg, M.l - 4, y + 3, c.toFixed(cmax - cmin < 0.01 ? 5 : 3), "tick", "end");
    }
    var ty = yc(data.threshold);
    el("line", {x1: M.l, y1: ty, x2: W - M.r, y2: ty, "class": "thr"}, svg);
    text(svg, W - M.r - 2, ty - 3, "threshold " + data.threshold, "tick", "end");
    var every = Math.max(1, Math.ceil((hi - lo) / 6));
    for (var d = lo; d <= hi; d += every) {
      var yy = yr(Math.pow(10, d));
      el("line", {x1: M.l, y1: yy, x2: W - M.r, y2: yy, "class": "grid"}, svg);
      text(svg, M.l - 4, yy + 3, "1e" + d, "tick", "end");
    }
    // Root causes: a line through both panels and the name.
    ops.forEach(function (o, i) {
      if (!o.rc) return;
      el("line", {x1: x(i), y1: top1, x2: x(i), y2: top2 + PH, "class": "rc-line", "data-op": o.i}, svg);
      text(svg, Math.min(x(i) + 4, W - M.r - 4), top2 - 8, "root cause: " + o.n, "rc-label",
           x(i) > W - 260 ? "end" : "start");
    });
    // Points: one per operation with a scored output, in each panel; NaN/inf outputs as triangles.
    ops.forEach(function (o, i) {
      var cls = "pt v-" + o.v + (o.lf ? "" : " container") + (o.rc ? " rc" : "");
      var rad = o.rc ? 5 : (o.lf ? 2.6 : 3.6);
      if (o.c !== null) hover(el("circle", {cx: x(i), cy: yc(o.c), r: rad, "class": cls + " pt-cos", "data-op": o.i}, svg), tok.token, o);
      if (o.r !== null) hover(el("circle", {cx: x(i), cy: yr(o.r), r: rad, "class": cls + " pt-rel", "data-op": o.i}, svg), tok.token, o);
      if (o.nf) {
        var bx = x(i), by = top1 + PH - 2, h = o.rc ? 8 : 5;
        hover(el("path", {d: "M" + (bx - h) + "," + by + "L" + (bx + h) + "," + by + "L" + bx + "," + (by - 1.8 * h) + "Z",
                          "class": "nf" + (o.rc ? " rc" : ""), "data-op": o.i}, svg), tok.token, o);
      }
    });
    body.appendChild(fig);
  });
  document.body.setAttribute("data-rendered", "1");
})();
