// Admins only: projections and jobs with their lag, relay failures, webhook backlog.
import { query } from "./api.js";
import { connectionTable } from "./table.js";
import { LISTS } from "./lists.js";
import { h, replace } from "./dom.js";

const OPERATIONS = `query Operations { viewer { operations {
  projections { cell name position head lagEvents lagSeconds }
  jobs { cell name heldBy lagEvents }
  relayFailures
  webhookBacklog { cell pending oldestSeconds }
} } }`;

function table(id, caption, headers, rows) {
  return h("table", { id },
    h("caption", {}, caption),
    h("thead", {}, h("tr", {}, headers.map(([label, num]) => h("th", { scope: "col", class: num ? "num" : null }, label)))),
    h("tbody", {}, rows.map((cells) => h("tr", {}, cells.map((c, i) => h(i ? "td" : "th", { scope: i ? null : "row", class: headers[i][1] ? "num" : null }, c))))));
}

export function operationsPage() {
  const element = h("section", { "aria-labelledby": "operations-title" },
    h("h1", { id: "operations-title" }, "Operations"), h("p", { class: "muted" }, "Loading…"));
  const failed = connectionTable({
    ...LISTS.payments, name: "RelayFailed", title: "Payments with relay failures",
    field: "payments", filters: [],
  });
  async function load() {
    try {
      const ops = (await query(OPERATIONS)).viewer.operations;
      if (!ops) throw new Error("Operations are for admin keys.");
      replace(element, h("h1", { id: "operations-title" }, "Operations"),
        h("h2", {}, "Projections"),
        table("projections", "Read models: position in the log and lag", [["Projection"], ["Cell"], ["Position", 1], ["Head", 1], ["Lag (events)", 1], ["Lag (s)", 1]],
          ops.projections.map((p) => [p.name, p.cell, p.position, p.head, p.lagEvents, Number(p.lagSeconds.toFixed(1))])),
        h("h2", {}, "Jobs"),
        table("jobs", "Worker jobs: who holds each and its lag", [["Job"], ["Cell"], ["Held by"], ["Lag (events)", 1]],
          ops.jobs.map((j) => [j.name, j.cell, j.heldBy, j.lagEvents === null ? "—" : j.lagEvents])),
        h("h2", {}, "Webhook backlog"),
        table("webhooks", "Deliveries waiting", [["Cell"], ["Pending", 1], ["Oldest (s)", 1]],
          ops.webhookBacklog.map((w) => [w.cell, w.pending, Number(w.oldestSeconds.toFixed(1))])),
        h("h2", {}, `Relay failures: ${ops.relayFailures}`), failed.element);
    } catch (failure) {
      replace(element, h("h1", { id: "operations-title" }, "Operations"),
        h("p", { class: "error", role: "alert" }, failure.message));
    }
  }
  failed.setFilter({ relayFailed: true });
  load();
  return [element, () => {}];
}
