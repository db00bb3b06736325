// The console's shell: one server-sent event stream, a hash router, the pages.
import { renderOverview } from "./overview.js";
import { renderKey } from "./key.js";
import { renderEvents, eventMatches } from "./events.js";
import { renderExplain } from "./explain.js";

const TAIL = 2000;
export const state = { overview: null, events: [], page: null };
const view = document.getElementById("view");
const live = document.getElementById("live");

function route() {
  const hash = location.hash.replace(/^#/, "") || "/";
  const [path, query = ""] = hash.split("?");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  const params = new URLSearchParams(query);
  if (parts[0] === "key" && parts.length >= 3) return { name: "key", account: parts[1], symbol: parts.slice(2).join("/") };
  if (parts[0] === "events") return { name: "events", params };
  if (parts[0] === "explain" && parts[1]) return { name: "explain", coid: parts[1] };
  return { name: "overview" };
}

function show() {
  const page = route();
  state.page = page;
  for (const link of document.querySelectorAll("[data-nav]")) {
    link.classList.toggle("active", link.dataset.nav === page.name);
  }
  view.replaceChildren();
  view.dataset.page = page.name;
  if (page.name === "key") page.refresh = renderKey(view, page, state);
  else if (page.name === "events") page.add = renderEvents(view, page, state);
  else if (page.name === "explain") renderExplain(view, page);
  else page.refresh = renderOverview(view, state);
}

function connect() {
  const stream = new EventSource("/api/stream");
  stream.onopen = () => { live.textContent = "live"; live.className = "live on"; };
  stream.onerror = () => { live.textContent = "reconnecting"; live.className = "live off"; };
  stream.addEventListener("overview", (message) => {
    state.overview = JSON.parse(message.data);
    const page = state.page;
    if (page && (page.name === "overview" || page.name === "key") && page.refresh) page.refresh("overview");
  });
  stream.addEventListener("event", (message) => {
    const row = JSON.parse(message.data);
    state.events.push(row);
    if (state.events.length > TAIL) state.events.splice(0, state.events.length - TAIL);
    const page = state.page;
    if (!page) return;
    if (page.name === "events" && page.add && eventMatches(row, page.params)) page.add(row);
    if (page.name === "key" && page.refresh && row.account === page.account && row.symbol === page.symbol) page.refresh("event");
  });
}

window.addEventListener("hashchange", show);
show();
connect();
