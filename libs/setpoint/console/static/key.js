// Key view: the status line, the price ladder (target vs venue), recent fills, the timeline.
import { h, text, age, clock, explainHref, getJSON } from "./dom.js";
import { timelineChart } from "./chart.js";

export function renderKey(view, page) {
  const root = h("section", { id: "key", "data-key": `${page.account} ${page.symbol}` },
    h("h2", {}, `${page.account} ${page.symbol}`), h("p", { class: "muted" }, "loading…"));
  view.append(root);
  let pending = null;
  let running = false;
  const load = async () => {
    if (running) { schedule(); return; }
    running = true;
    try {
      const body = await getJSON(`/api/key?account=${encodeURIComponent(page.account)}&symbol=${encodeURIComponent(page.symbol)}`);
      if (root.isConnected) root.replaceChildren(...content(body));
    } catch (error) {
      root.replaceChildren(h("h2", {}, `${page.account} ${page.symbol}`), h("p", { class: "error" }, String(error.message)));
    } finally {
      running = false;
    }
  };
  const schedule = () => { if (!pending) pending = setTimeout(() => { pending = null; load(); }, 250); };
  load();
  return schedule;
}

function content(body) {
  return [
    h("h2", {}, `${body.account} ${body.symbol}`),
    statusLine(body.status),
    h("div", { class: "columns" },
      h("div", {}, h("h3", {}, "Ladder: target vs venue"), ladderTable(body.ladder)),
      h("div", {}, h("h3", {}, "Recent fills"), fillsTable(body.fills))),
    h("h3", {}, "Timeline"),
    timelineChart(body.timeline),
  ];
}

function statusLine(status) {
  if (!status) return h("p", { class: "muted", id: "key-status" }, "no status for this key yet");
  return h("p", { id: "key-status", class: "status-line" },
    h("span", { class: `badge ${status.condition}`, "data-condition": status.condition }, status.condition),
    status.reasons.length ? ` ${status.reasons.join(", ")}` : "",
    ` for ${age(status.since)} · generation ${text(status.generation)} · orders ${status.orders_target} wanted / ${status.orders_venue} at the venue`
    + ` · position ${text(status.position_target)} target / ${text(status.position_actual)} actual · last reconciliation ${clock(status.last_reconciliation)}`);
}

function ladderTable(rows) {
  const body = rows.map((r) => h("tr", { class: `ladder-row ${r.side}`, "data-side": r.side, "data-price": text(r.price) },
    h("td", { class: "target" }, r.target.map((t) => h("div", { class: "intent", "data-intent": t.intent_id },
      `${t.quantity} `, h("span", { class: "muted" }, t.intent_id)))),
    h("td", { class: "ours" }, r.ours.map(venueOrder)),
    h("td", { class: `price ${r.side}` }, r.price === null ? "market" : r.price, h("span", { class: "side" }, ` ${r.side}`)),
    h("td", { class: "foreign" }, r.foreign.map((o) => h("div", { class: "order foreign", "data-order": text(o.order_id) },
      `${o.quantity} `, h("span", { class: "muted" }, `#${text(o.order_id)}`)))),
  ));
  if (!body.length) body.push(h("tr", {}, h("td", { colspan: 4, class: "muted" }, "no order wanted, none at the venue")));
  return h("table", { id: "ladder" },
    h("thead", {}, h("tr", {}, ["target", "ours at the venue", "price", "foreign"].map((c) => h("th", {}, c)))),
    h("tbody", {}, body));
}

function venueOrder(o) {
  const label = o.client_order_id || `#${text(o.order_id)}`;
  return h("div", { class: `order ours${o.in_flight ? " in-flight" : ""}`, "data-coid": text(o.client_order_id) },
    `${o.quantity} `,
    o.filled !== "0" ? h("span", { class: "filled" }, `(${o.filled} filled) `) : null,
    o.client_order_id ? h("a", { href: explainHref(o.client_order_id), class: "explain" }, label) : label,
    h("span", { class: `state ${o.state.replace(" ", "-")}` }, ` ${o.state}`),
    o.adopted ? h("span", { class: "muted" }, " adopted") : null);
}

function fillsTable(fills) {
  const rows = fills.map((f) => h("tr", { class: "fill", "data-coid": text(f.client_order_id) },
    h("td", {}, clock(f.occurred_at)),
    h("td", { class: "summary" }, f.summary),
    h("td", {}, f.client_order_id ? h("a", { href: explainHref(f.client_order_id), class: "explain" }, f.client_order_id) : `#${text(f.order_id)}`)));
  if (!rows.length) rows.push(h("tr", {}, h("td", { colspan: 3, class: "muted" }, "no fill yet")));
  return h("table", { id: "fills" },
    h("thead", {}, h("tr", {}, ["time", "fill", "order"].map((c) => h("th", {}, c)))), h("tbody", {}, rows));
}
