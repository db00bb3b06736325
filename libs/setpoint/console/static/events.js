// Events: a live tail of the log, filtered by account, symbol and type.
import { h, text, clock, keyHref, explainHref, getJSON } from "./dom.js";

const FILTERS = ["account", "symbol", "type"];
const SHOWN = 500;

export function eventMatches(row, params) {
  return FILTERS.every((name) => !params.get(name) || row[name] === params.get(name));
}

export function renderEvents(view, page) {
  const params = page.params;
  const form = h("form", { id: "filters", onsubmit: (e) => { e.preventDefault(); apply(form); } },
    FILTERS.map((name) => h("label", {}, `${name} `, h("input", { name, value: params.get(name) || "", placeholder: "any" }))),
    h("button", { type: "submit" }, "filter"));
  const body = h("tbody", {});
  view.append(h("section", { id: "events" }, h("h2", {}, "Events"), form,
    h("table", {}, h("thead", {}, h("tr", {}, ["#", "time", "type", "key", "producer", "summary", "order", "trace"].map((c) => h("th", {}, c)))), body)));
  const query = new URLSearchParams({ limit: String(SHOWN) });
  for (const name of FILTERS) if (params.get(name)) query.set(name, params.get(name));
  let newest = 0;
  const add = (row) => {
    if (row.position <= newest) return;
    newest = row.position;
    body.prepend(eventRow(row));
    while (body.children.length > SHOWN) body.lastChild.remove();
  };
  getJSON(`/api/events?${query}`).then((reply) => reply.events.forEach(add))
    .catch((error) => body.replaceChildren(h("tr", {}, h("td", { colspan: 8, class: "error" }, error.message))));
  return add;
}

function apply(form) {
  const query = new URLSearchParams();
  for (const name of FILTERS) {
    const value = form.elements[name].value.trim();
    if (value) query.set(name, value);
  }
  location.hash = `#/events${query.toString() ? `?${query}` : ""}`;
}

function eventRow(e) {
  return h("tr", { class: "event", "data-type": e.type, "data-position": e.position },
    h("td", { class: "num" }, e.position),
    h("td", {}, clock(e.occurred_at)),
    h("td", { class: "type" }, e.type),
    h("td", {}, e.symbol ? h("a", { href: keyHref(e.account, e.symbol) }, `${e.account} ${e.symbol}`) : e.account),
    h("td", {}, e.producer),
    h("td", { class: "summary" }, e.summary),
    h("td", {}, e.client_order_id ? h("a", { href: explainHref(e.client_order_id), class: "explain" }, e.client_order_id) : text(e.order_id)),
    h("td", { class: "trace" }, text(e.trace_id)));
}
