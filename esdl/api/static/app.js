// The query page: sends the query to /sparql, shows the solutions as a table and draws every
// geo:wktLiteral / geo:geoJSONLiteral value on an SVG map fitted to the data (plain JS, no libraries).
"use strict";

(() => {
  const GEO = "http://www.opengis.net/ont/geosparql#";
  const WKT_LITERAL = GEO + "wktLiteral";
  const GEOJSON_LITERAL = GEO + "geoJSONLiteral";
  const SVG_NS = "http://www.w3.org/2000/svg";
  const W = 800, H = 400, PAD = 24;
  const PREFIXES = {
    "http://www.w3.org/2001/XMLSchema#": "xsd:",
    "http://www.opengis.net/ont/geosparql#": "geo:",
    "http://www.w3.org/1999/02/22-rdf-syntax-ns#": "rdf:",
  };

  const $ = (id) => document.getElementById(id);

  // ---- geometries: WKT (with an optional CRS IRI) and GeoJSON, as GeoJSON-like objects in lon/lat ----

  function parseWkt(text) {
    let s = text.trim();
    let swap = false;
    const crs = /^<([^>]*)>\s*/.exec(s);
    if (crs) {
      s = s.slice(crs[0].length);
      if (/\/EPSG\/0\/4326$/.test(crs[1])) swap = true; // EPSG:4326 is latitude first
      else if (!/\/OGC\/1\.3\/CRS84$/.test(crs[1])) throw new Error("CRS not drawn: " + crs[1]);
    }
    const tokens = s.match(/[A-Za-z]+|[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|[(),]/g) || [];
    let i = 0;
    const peek = () => tokens[i];
    const expect = (t) => {
      if (tokens[i] !== t) throw new Error(`WKT: expected "${t}" at token ${i + 1}`);
      i += 1;
    };
    const coord = () => {
      const nums = [];
      while (peek() !== undefined && !"(),".includes(peek())) nums.push(Number(tokens[i++]));
      if (nums.length < 2 || nums.some(Number.isNaN)) throw new Error("WKT: bad coordinate");
      return swap ? [nums[1], nums[0]] : [nums[0], nums[1]];
    };
    const list = (item) => {
      expect("(");
      const out = [item()];
      while (peek() === ",") {
        i += 1;
        out.push(item());
      }
      expect(")");
      return out;
    };
    const coords = () => list(coord);
    const rings = () => list(coords);
    const memberPoint = () => (peek() === "(" ? list(coord)[0] : coord()); // MULTIPOINT((1 2),(3 4)) or (1 2, 3 4)
    const geometry = () => {
      const type = (tokens[i++] || "").toUpperCase();
      if (/^(Z|M|ZM)$/i.test(peek() || "")) i += 1;
      if ((peek() || "").toUpperCase() === "EMPTY") {
        i += 1;
        return null;
      }
      switch (type) {
        case "POINT": return { type: "Point", coordinates: list(coord)[0] };
        case "LINESTRING": return { type: "LineString", coordinates: coords() };
        case "POLYGON": case "TRIANGLE": return { type: "Polygon", coordinates: rings() };
        case "MULTIPOINT": return { type: "MultiPoint", coordinates: list(memberPoint) };
        case "MULTILINESTRING": return { type: "MultiLineString", coordinates: list(coords) };
        case "MULTIPOLYGON": case "POLYHEDRALSURFACE": case "TIN":
          return { type: "MultiPolygon", coordinates: list(rings) };
        case "GEOMETRYCOLLECTION": return { type: "GeometryCollection", geometries: list(geometry).filter(Boolean) };
        default: throw new Error("WKT: unknown geometry type " + type);
      }
    };
    const g = geometry();
    if (i !== tokens.length) throw new Error("WKT: unexpected text after the geometry");
    return g;
  }

  function parseGeoJson(text) {
    const obj = JSON.parse(text);
    if (obj.type === "Feature") return obj.geometry;
    if (obj.type === "FeatureCollection") {
      return { type: "GeometryCollection", geometries: obj.features.map((f) => f.geometry).filter(Boolean) };
    }
    return obj;
  }

  function geometryOf(term) {
    if (!term || term.type !== "literal") return undefined;
    if (term.datatype === WKT_LITERAL) return parseWkt(term.value);
    if (term.datatype === GEOJSON_LITERAL) return parseGeoJson(term.value);
    return undefined;
  }

  function eachPosition(g, fn) {
    if (!g) return;
    if (g.type === "GeometryCollection") { g.geometries.forEach((m) => eachPosition(m, fn)); return; }
    const depth = { Point: 0, MultiPoint: 1, LineString: 1, MultiLineString: 2, Polygon: 2, MultiPolygon: 3 }[g.type];
    const walk = (c, d) => (d === 0 ? fn(c) : c.forEach((x) => walk(x, d - 1)));
    if (depth !== undefined) walk(g.coordinates, depth);
  }

  // ---- the map ----

  function svg(tag, attrs, parent) {
    const el = document.createElementNS(SVG_NS, tag);
    for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
    if (parent) parent.appendChild(el);
    return el;
  }

  function niceStep(span) {
    for (const step of [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 15, 30, 45, 90]) {
      if (span / step <= 8) return step;
    }
    return 90;
  }

  function drawMap(items) {
    const shapes = $("shapes"), grid = $("graticule"), note = $("map-note");
    shapes.replaceChildren();
    grid.replaceChildren();
    let minX = Infinity, minY = Infinity, maxX = -Infinity, maxY = -Infinity;
    items.forEach((it) => eachPosition(it.geometry, ([x, y]) => {
      minX = Math.min(minX, x); maxX = Math.max(maxX, x); minY = Math.min(minY, y); maxY = Math.max(maxY, y);
    }));
    if (minX === Infinity) {
      note.textContent = items.length ? "no coordinates to draw" : "no geometries in the results";
      note.removeAttribute("display");
      return;
    }
    note.setAttribute("display", "none");
    // equirectangular, with longitudes shrunk by the cosine of the middle latitude
    const k = Math.max(0.2, Math.cos((((minY + maxY) / 2) * Math.PI) / 180));
    const dx = (maxX - minX) * k, dy = maxY - minY;
    const scale = dx < 1e-9 && dy < 1e-9 ? (H - 2 * PAD) / 1 : Math.min((W - 2 * PAD) / Math.max(dx, 1e-9), (H - 2 * PAD) / Math.max(dy, 1e-9));
    const ox = W / 2 - scale * k * ((minX + maxX) / 2), oy = H / 2 + scale * ((minY + maxY) / 2);
    const X = (lon) => (ox + scale * k * lon).toFixed(2), Y = (lat) => (oy - scale * lat).toFixed(2);

    const lon0 = -ox / (scale * k), lon1 = (W - ox) / (scale * k), lat1 = oy / scale, lat0 = (oy - H) / scale;
    const step = niceStep(Math.max(lon1 - lon0, lat1 - lat0));
    const digits = step < 1 ? String(step).split(".")[1].length : 0;
    for (let lon = Math.ceil(lon0 / step) * step; lon <= lon1; lon += step) {
      svg("line", { x1: X(lon), x2: X(lon), y1: 0, y2: H }, grid);
      svg("text", { x: Number(X(lon)) + 2, y: H - 4 }, grid).textContent = `${lon.toFixed(digits)}°`;
    }
    for (let lat = Math.ceil(lat0 / step) * step; lat <= lat1; lat += step) {
      svg("line", { x1: 0, x2: W, y1: Y(lat), y2: Y(lat) }, grid);
      svg("text", { x: 4, y: Number(Y(lat)) - 2 }, grid).textContent = `${lat.toFixed(digits)}°`;
    }

    const ring = (r, close) => r.map(([x, y], j) => `${j ? "L" : "M"}${X(x)} ${Y(y)}`).join("") + (close ? "Z" : "");
    const layers = { area: svg("g", {}, shapes), line: svg("g", {}, shapes), point: svg("g", {}, shapes) };
    const draw = (g, it) => {
      if (!g) return;
      const attrs = { "data-row": it.row };
      let el;
      switch (g.type) {
        case "Point": el = svg("circle", { ...attrs, class: "shape point", cx: X(g.coordinates[0]), cy: Y(g.coordinates[1]), r: 4 }, layers.point); break;
        case "MultiPoint": g.coordinates.forEach((c) => draw({ type: "Point", coordinates: c }, it)); return;
        case "LineString": el = svg("path", { ...attrs, class: "shape line", d: ring(g.coordinates, false) }, layers.line); break;
        case "MultiLineString": el = svg("path", { ...attrs, class: "shape line", d: g.coordinates.map((l) => ring(l, false)).join("") }, layers.line); break;
        case "Polygon": el = svg("path", { ...attrs, class: "shape area", d: g.coordinates.map((r) => ring(r, true)).join("") }, layers.area); break;
        case "MultiPolygon": el = svg("path", { ...attrs, class: "shape area", d: g.coordinates.flat().map((r) => ring(r, true)).join("") }, layers.area); break;
        case "GeometryCollection": g.geometries.forEach((m) => draw(m, it)); return;
        default: return;
      }
      svg("title", {}, el).textContent = it.label;
    };
    items.forEach((it) => draw(it.geometry, it));
  }

  // ---- the table ----

  function shorten(iri) {
    for (const [ns, prefix] of Object.entries(PREFIXES)) if (iri.startsWith(ns)) return prefix + iri.slice(ns.length);
    return "<" + iri + ">";
  }

  function cell(term) {
    const td = document.createElement("td");
    if (!term) return td;
    if (term.type === "uri") {
      if (/^https?:\/\//i.test(term.value)) {
        const a = document.createElement("a");
        a.href = term.value;
        a.textContent = term.value;
        a.target = "_blank";
        a.rel = "noopener noreferrer";
        td.appendChild(a);
      } else {
        td.textContent = term.value;
      }
      return td;
    }
    if (term.type === "bnode") {
      td.textContent = "_:" + term.value;
      td.className = "bnode";
      return td;
    }
    const value = document.createElement("span");
    value.className = "value";
    value.textContent = term.value;
    if (term.value.length > 80) {
      value.classList.add("long");
      value.title = term.value;
    }
    td.appendChild(value);
    const suffix = term["xml:lang"] ? "@" + term["xml:lang"] : term.datatype ? "^^" + shorten(term.datatype) : "";
    if (suffix) {
      const tag = document.createElement("span");
      tag.className = "type";
      tag.textContent = suffix;
      td.appendChild(tag);
    }
    return td;
  }

  function showTable(vars, rows) {
    const head = document.createElement("tr");
    vars.forEach((v) => {
      const th = document.createElement("th");
      th.textContent = "?" + v;
      head.appendChild(th);
    });
    $("results").tHead.replaceChildren(head);
    const body = $("results").tBodies[0];
    body.replaceChildren(...rows.map((row, i) => {
      const tr = document.createElement("tr");
      tr.dataset.row = i;
      vars.forEach((v) => tr.appendChild(cell(row[v])));
      return tr;
    }));
  }

  function highlight(row, on) {
    document.querySelectorAll(`#shapes [data-row="${row}"]`).forEach((el) => el.classList.toggle("hl", on));
  }

  // ---- running queries ----

  function setStatus(text) { $("status").textContent = text; }

  function showError(text) {
    const box = $("error");
    box.textContent = text || "";
    box.hidden = !text;
  }

  async function errorText(response) {
    const raw = await response.text();
    try {
      const body = JSON.parse(raw);
      const feature = body.feature ? ` (${body.feature})` : "";
      return `${response.status} ${body.error}${feature}: ${body.message}`;
    } catch (_) {
      return `${response.status} ${raw}`;
    }
  }

  function clearResults() {
    showTable([], []);
    drawMap([]);
    $("graph").hidden = true;
  }

  async function run() {
    showError(null);
    $("sql").hidden = true;
    $("run").disabled = true;
    setStatus("running…");
    const started = performance.now();
    try {
      const response = await fetch("sparql", {
        method: "POST",
        headers: {
          Accept: "application/sparql-results+json, text/turtle;q=0.9",
          "Content-Type": "application/x-www-form-urlencoded;charset=UTF-8",
        },
        body: new URLSearchParams({ query: $("query").value }),
      });
      if (!response.ok) {
        clearResults();
        showError(await errorText(response));
        setStatus("");
        return;
      }
      const ms = Math.round(performance.now() - started);
      const cut = response.headers.get("X-Esdl-Truncated") === "true" ? " — cut off at the endpoint's row limit" : "";
      if ((response.headers.get("Content-Type") || "").startsWith("text/turtle")) {
        clearResults();
        $("graph").textContent = await response.text();
        $("graph").hidden = false;
        setStatus(`graph in ${ms} ms${cut}`);
        return;
      }
      const data = await response.json();
      if ("boolean" in data) {
        clearResults();
        setStatus(`ASK: ${data.boolean} (${ms} ms)`);
        return;
      }
      const vars = data.head.vars, rows = data.results.bindings;
      showTable(vars, rows);
      const items = [], problems = [];
      rows.forEach((row, i) => vars.forEach((v) => {
        try {
          const geometry = geometryOf(row[v]);
          if (geometry === undefined) return;
          const label = vars.filter((w) => w !== v && row[w] && !geometryOf(row[w])).map((w) => row[w].value).join(" · ");
          items.push({ geometry, row: i, label: label || `row ${i + 1}` });
        } catch (err) {
          problems.push(err.message);
        }
      }));
      drawMap(items);
      const skipped = problems.length ? `, ${problems.length} not drawn (${problems[0]})` : "";
      setStatus(`${rows.length} row${rows.length === 1 ? "" : "s"}, ${items.length} geometr${items.length === 1 ? "y" : "ies"}${skipped} in ${ms} ms${cut}`);
    } catch (err) {
      clearResults();
      showError("cannot reach the endpoint: " + err.message);
      setStatus("");
    } finally {
      $("run").disabled = false;
    }
  }

  async function explain() {
    showError(null);
    const response = await fetch("sparql/explain?" + new URLSearchParams({ query: $("query").value }));
    if (!response.ok) {
      showError(await errorText(response));
      return;
    }
    const body = await response.json();
    $("sql").textContent = body.sql + "\n\n-- parameters: " + JSON.stringify(body.parameters);
    $("sql").hidden = false;
  }

  $("run").addEventListener("click", run);
  $("explain").addEventListener("click", explain);
  $("query").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      run();
    }
  });
  const body = $("results").tBodies[0];
  body.addEventListener("mouseover", (e) => { const tr = e.target.closest("tr"); if (tr) highlight(tr.dataset.row, true); });
  body.addEventListener("mouseout", (e) => { const tr = e.target.closest("tr"); if (tr) highlight(tr.dataset.row, false); });
  window.esdl = { parseWkt, parseGeoJson }; // for tests and the console
})();
