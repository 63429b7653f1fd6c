// A payment's page: its figures, its timeline of events (who, when, what), and its
// state as of any moment, chosen on a time slider (`payment(asOf:)`).
import { query, subscribe } from "./api.js";
import { h, money, replace, status, time } from "./dom.js";

const DETAIL = `query Payment($id: ID!) { payment(id: $id) { __typename
  ... on Payment { id status version captureMethod createdAt updatedAt
    amount { formatted } amountCapturable { formatted } amountCaptured { formatted }
    amountRefunded { formatted } fee { formatted } card { brand last4 } customer { id name }
    risk { outcome score } relayFailures declineCode cancellationReason
    refunds { id status amount { formatted } }
    events { type version time data metadata } }
  ... on Error { code message } } }`;

const AS_OF = `query AsOf($id: ID!, $at: DateTime) { payment(id: $id, asOf: $at) { __typename
  ... on Payment { status version asOf amountCapturable { formatted }
    amountCaptured { formatted } amountRefunded { formatted } }
  ... on Error { code message } } }`;

const WATCH = "subscription Watch($id: ID!) { paymentUpdated(id: $id) { ... on Payment { version } } }";

export function paymentPage(id, announce) {
  const element = h("section", { "aria-labelledby": "payment-title" },
    h("h1", { id: "payment-title" }, `Payment ${id}`), h("p", { class: "muted" }, "Loading…"));
  let version = null;
  const stop = subscribe(WATCH, { id }, (data) => {
    const seen = data.paymentUpdated && data.paymentUpdated.version;
    if (version !== null && seen > version) { announce(`Payment ${id} changed`); render(); }
  });
  async function render() {
    try {
      const payment = (await query(DETAIL, { id })).payment;
      if (payment.__typename !== "Payment") throw new Error(payment.message);
      version = payment.version;
      replace(element, h("h1", { id: "payment-title" }, `Payment ${id}`),
        summary(payment), slider(payment), timeline(payment.events));
    } catch (failure) {
      replace(element, h("h1", { id: "payment-title" }, `Payment ${id}`),
        h("p", { class: "error", role: "alert" }, `Not found or not yours: ${failure.message}`));
    }
  }
  render();
  return [element, stop];
}

function summary(p) {
  const rows = [
    ["Status", status(p.status)], ["Amount", money(p.amount)],
    ["Capturable", money(p.amountCapturable)], ["Captured", money(p.amountCaptured)],
    ["Refunded", money(p.amountRefunded)], ["Fee", money(p.fee)],
    ["Capture", p.captureMethod.toLowerCase()], ["Card", `${p.card.brand} •••• ${p.card.last4}`],
    ["Customer", p.customer ? p.customer.name : "—"],
    ["Risk", p.risk ? `${p.risk.outcome} (${p.risk.score})` : "—"],
    ["Relay failures", p.relayFailures && p.relayFailures.length ? p.relayFailures.join(", ") : "none"],
    ["Created", time(p.createdAt)], ["Updated", time(p.updatedAt)],
  ];
  if (p.declineCode) rows.push(["Declined", p.declineCode]);
  if (p.cancellationReason) rows.push(["Canceled", p.cancellationReason]);
  return h("div", { class: "card", id: "payment-summary" },
    h("h2", {}, "Now"), h("dl", {}, rows.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)])),
    p.refunds.length ? h("p", {}, `Refunds: ${p.refunds.map((r) => `${r.id} ${r.status.toLowerCase()} ${r.amount.formatted}`).join("; ")}`) : null);
}

function who(metadata) {
  if (!metadata) return "—";
  const actor = metadata.actor || "?";
  return metadata.actor_id ? `${actor} ${metadata.actor_id}` : actor;
}

function timeline(events) {
  const items = events.map((e) => h("li", { "data-type": e.type, "data-time": e.time },
    h("span", { class: "what" }, e.type.replace(/^Payment\./, "")), " · ", time(e.time),
    " · by ", who(e.metadata), ` · version ${e.version}`,
    e.data ? h("details", {}, h("summary", {}, "Details"), h("pre", {}, JSON.stringify(e.data, null, 1))) : null));
  return h("section", { "aria-labelledby": "timeline-title" },
    h("h2", { id: "timeline-title" }, "Timeline"), h("ol", { class: "timeline", id: "timeline" }, items));
}

// The slider runs in milliseconds from the payment's first event to its last; each
// position asks the server for the payment as it was then.
function slider(p) {
  const times = p.events.map((e) => Date.parse(e.time));
  // Event times have microseconds, Date milliseconds: one more keeps the first event and
  // the last in (cut to the millisecond, the first event's time was before it happened).
  const first = Math.min(...times) + 1;
  const last = Math.max(...times) + 1;
  const input = h("input", { id: "as-of", type: "range", min: first, max: last, step: 1, value: last,
    "aria-describedby": "as-of-time" });
  const shown = h("output", { id: "as-of-time", for: "as-of" }, new Date(last).toISOString());
  const result = h("div", { class: "as-of", id: "as-of-state", "aria-live": "polite" });
  let asked = 0;
  async function show() {
    const at = new Date(Number(input.value)).toISOString();
    shown.textContent = at;
    input.setAttribute("aria-valuetext", at);
    const ticket = ++asked;
    try {
      const then = (await query(AS_OF, { id: p.id, at })).payment;
      if (ticket !== asked) return; // a later position answered first
      if (then.__typename !== "Payment") replace(result, "It did not exist yet.");
      else replace(result, "Status then: ", status(then.status), ` · version ${then.version}`,
        ` · captured ${then.amountCaptured.formatted} · refunded ${then.amountRefunded.formatted}`);
      result.dataset.status = then.status || "";
    } catch (failure) {
      replace(result, h("span", { class: "error" }, failure.message));
    }
  }
  let timer = null;
  input.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(show, 120); });
  show();
  return h("section", { class: "slider", "aria-labelledby": "as-of-title" },
    h("h2", { id: "as-of-title" }, "As of a moment"),
    h("label", { for: "as-of" }, "Time"), input, shown, result);
}
