// Explain: one order's causal chain, target → diff → submission → venue answer → fills.
import { h, text, clock, keyHref, getJSON } from "./dom.js";

export function renderExplain(view, page) {
  const root = h("section", { id: "explain" }, h("h2", {}, `Explain ${page.coid}`), h("p", { class: "muted" }, "reading the log…"));
  view.append(root);
  getJSON(`/api/explain?client_order_id=${encodeURIComponent(page.coid)}`)
    .then((body) => root.replaceChildren(...content(body)))
    .catch((error) => root.replaceChildren(h("h2", {}, `Explain ${page.coid}`), h("p", { class: "error" }, error.message)));
}

function content(body) {
  const title = h("h2", {}, `Explain ${body.client_order_id}`);
  if (!body.found) return [title, h("p", { class: "error", id: "explain-missing" }, "no such order in the log")];
  const target = body.target;
  return [
    title,
    h("p", { class: "status-line" },
      h("a", { href: keyHref(body.account, body.symbol) }, `${body.account} ${body.symbol}`),
      ` · intent ${text(body.intent_id)} attempt ${text(body.attempt)} · filled ${body.filled} avg ${text(body.average_price)}`,
      target ? ` · target generation ${target.generation} by ${target.strategy}` : ""),
    h("ol", { id: "chain" }, body.chain.map((e) => h("li", { "data-type": e.type, class: "link" },
      h("span", { class: "type" }, e.type),
      h("span", { class: "muted" }, ` #${e.position} ${clock(e.occurred_at)} ${e.producer}`),
      h("div", { class: "summary" }, e.summary),
      h("div", { class: "ids muted" }, `event ${e.event_id} · trace `, h("code", { class: "trace" }, text(e.trace_id)))))),
  ];
}
