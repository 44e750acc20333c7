/* Renders /api/openapi.json as a readable page (a local stand-in for Swagger UI, which needs a CDN). */
"use strict";

(function () {
  const box = document.getElementById("endpoints");

  function make(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function resolve(spec, schema) {
    let s = schema || {};
    for (let i = 0; s.$ref && i < 10; i++) {
      const parts = s.$ref.replace(/^#\//, "").split("/");
      s = parts.reduce((o, k) => (o ? o[k] : undefined), spec) || {};
    }
    return s;
  }

  function typeOf(spec, schema) {
    const s = resolve(spec, schema);
    if (s.anyOf) return s.anyOf.map((x) => typeOf(spec, x)).join(" | ");
    if (s.type === "array") return typeOf(spec, s.items) + "[]";
    if (s.format === "binary" || s.contentMediaType === "application/octet-stream") return "file";
    return s.type || s.title || "object";
  }

  function table(rows) {
    const t = make("table", "summary");
    const head = make("tr");
    for (const h of ["name", "in", "type", "description"]) head.appendChild(make("th", "", h));
    const thead = make("thead");
    thead.appendChild(head);
    t.appendChild(thead);
    const body = make("tbody");
    for (const r of rows) {
      const tr = make("tr");
      for (const v of r) tr.appendChild(make("td", "", v));
      body.appendChild(tr);
    }
    t.appendChild(body);
    const wrap = make("div", "table-wrap");
    wrap.appendChild(t);
    return wrap;
  }

  function render(spec) {
    box.innerHTML = "";
    for (const [path, ops] of Object.entries(spec.paths || {})) {
      for (const [method, op] of Object.entries(ops)) {
        const card = make("section", "card endpoint");
        const h = make("h2");
        h.appendChild(make("span", "pill " + (method === "get" ? "done" : method === "delete" ? "failed" : "running"), method.toUpperCase()));
        h.appendChild(make("code", "path", " " + path));
        card.appendChild(h);
        if (op.summary) card.appendChild(make("p", "summary-line", op.summary));
        if (op.description) card.appendChild(make("p", "meta", op.description));
        const rows = [];
        for (const p of op.parameters || []) rows.push([p.name, p.in, typeOf(spec, p.schema), (p.description || "") + (p.required ? " (required)" : "")]);
        const content = (op.requestBody && op.requestBody.content) || {};
        for (const [ctype, c] of Object.entries(content)) {
          const s = resolve(spec, c.schema);
          for (const [name, prop] of Object.entries(s.properties || {})) {
            const req = (s.required || []).includes(name);
            rows.push([name, "form (" + ctype + ")", typeOf(spec, prop), (resolve(spec, prop).description || prop.description || "") + (req ? " (required)" : "")]);
          }
        }
        if (rows.length) card.appendChild(table(rows));
        const codes = Object.entries(op.responses || {}).map(([code, r]) => code + " " + (r.description || ""));
        card.appendChild(make("p", "meta", "Responses: " + codes.join(" · ")));
        box.appendChild(card);
      }
    }
  }

  fetch("/api/openapi.json")
    .then((r) => r.json())
    .then(render)
    .catch((e) => { box.textContent = "Could not load /api/openapi.json: " + e; });
})();
