// Overview: accounts and their mode, every key, the services' health.
import { h, text, age, clock, keyHref } from "./dom.js";

export function renderOverview(view, state) {
  const root = h("section", { id: "overview" });
  view.append(root);
  const draw = () => root.replaceChildren(...content(state.overview));
  draw();
  const timer = setInterval(() => { if (root.isConnected) draw(); else clearInterval(timer); }, 1000);
  return draw;
}

function content(overview) {
  if (!overview) return [h("p", { class: "muted" }, "waiting for the first status…")];
  return [
    h("h2", {}, "Keys"),
    keysTable(overview),
    h("div", { class: "columns" },
      h("div", {}, h("h2", {}, "Accounts"), accountsTable(overview.accounts)),
      h("div", {}, h("h2", {}, "Services"), servicesTable(overview.services))),
    h("p", { class: "muted" }, `log position ${overview.position}`),
  ];
}

function keysTable(overview) {
  const pnl = overview.pnl;
  const head = ["account", "symbol", "gen", "condition", "since", "orders target / venue",
    "position target / actual", ...(pnl ? ["realised PnL", "unrealised PnL"] : []), "last reconciliation"];
  const rows = overview.keys.map((k) => h("tr", { "data-key": `${k.account} ${k.symbol}`, class: `key ${k.condition}` },
    h("td", {}, k.account),
    h("td", {}, h("a", { href: keyHref(k.account, k.symbol), class: "key-link" }, k.symbol)),
    h("td", { class: "num gen" }, text(k.generation)),
    h("td", { class: "condition" }, h("span", { class: `badge ${k.condition}` }, k.condition),
      k.reasons.length ? h("span", { class: "reasons" }, ` ${k.reasons.join(", ")}`) : null),
    h("td", { class: "num age", title: text(k.since) }, age(k.since)),
    h("td", { class: "num orders" }, `${k.orders_target} / ${k.orders_venue}`),
    h("td", { class: "num position" }, `${text(k.position_target)} / ${text(k.position_actual)}`),
    ...(pnl ? [h("td", { class: "num pnl" }, text(k.pnl && k.pnl.realised)),
      h("td", { class: "num pnl" }, text(k.pnl && k.pnl.unrealised))] : []),
    h("td", { class: "recon", title: text(k.last_reconciliation) }, clock(k.last_reconciliation)),
  ));
  if (!rows.length) rows.push(h("tr", {}, h("td", { colspan: head.length, class: "muted" }, "no key yet: publish a target")));
  return h("table", { id: "keys" }, h("thead", {}, h("tr", {}, head.map((c) => h("th", {}, c)))), h("tbody", {}, rows));
}

function accountsTable(accounts) {
  return h("table", { id: "accounts" },
    h("thead", {}, h("tr", {}, h("th", {}, "account"), h("th", {}, "mode"))),
    h("tbody", {}, accounts.map((a) => h("tr", { "data-account": a.account },
      h("td", {}, a.account), h("td", {}, h("span", { class: `badge ${a.mode}` }, a.mode))))));
}

function servicesTable(services) {
  return h("table", { id: "services" },
    h("thead", {}, h("tr", {}, ["service", "health", "version", "tasks"].map((c) => h("th", {}, c)))),
    h("tbody", {}, services.map((s) => {
      const health = s.ready ? "ready" : s.answered ? "not ready" : "no answer";
      const troubles = Object.entries(s.tasks || {}).filter(([, v]) => v !== "following").map(([n, v]) => `${n}: ${v}`);
      return h("tr", { "data-service": s.service },
        h("td", {}, s.service),
        h("td", {}, h("span", { class: `badge ${health.replace(" ", "-")}` }, health)),
        h("td", {}, text(s.version)),
        h("td", {}, troubles.join("; ") || "-"));
    })));
}
