// The lists of the console: each is a config of the generic table (table.js).
import { query, subscribe } from "./api.js";
import { connectionTable, listDocument } from "./table.js";
import { money, status, time } from "./dom.js";

const idLookup = (prefix, route) => (text) => (text.startsWith(prefix) ? `#/${route}/${text}` : null);

export const PAYMENT_FIELDS = "id status amount { formatted } amountCaptured { formatted } amountRefunded { formatted } captureMethod customer { name } createdAt";

export const LISTS = {
  payments: {
    name: "Payments", title: "Payments", field: "payments", filterType: "PaymentFilter",
    selection: PAYMENT_FIELDS,
    filters: [{ name: "status", label: "Status", options: ["PROCESSING", "REQUIRES_CAPTURE", "SUCCEEDED", "FAILED", "CANCELED"] }],
    columns: [
      { label: "Payment", cell: (p) => p.id },
      { label: "Status", cell: (p) => status(p.status) },
      { label: "Amount", cell: (p) => money(p.amount), num: true },
      { label: "Captured", cell: (p) => money(p.amountCaptured), num: true },
      { label: "Refunded", cell: (p) => money(p.amountRefunded), num: true },
      { label: "Customer", cell: (p) => (p.customer ? p.customer.name : "") },
      { label: "Created", cell: (p) => time(p.createdAt) },
    ],
    link: (p) => `#/payments/${p.id}`,
    lookup: idLookup("pay_", "payments"),
  },
  refunds: {
    name: "Refunds", title: "Refunds", field: "refunds",
    selection: "id status amount { formatted } reason failureCode createdAt payment { id }",
    columns: [
      { label: "Refund", cell: (r) => r.id },
      { label: "Status", cell: (r) => status(r.status) },
      { label: "Amount", cell: (r) => money(r.amount), num: true },
      { label: "Reason", cell: (r) => r.reason || "" },
      { label: "Payment", cell: (r) => (r.payment ? r.payment.id : "") },
      { label: "Created", cell: (r) => time(r.createdAt) },
    ],
  },
  settlements: {
    name: "Settlements", title: "Settlements", field: "settlements", filterType: "SettlementFilter",
    selection: "id status currency cutoff gross { formatted } refunds { formatted } fees { formatted } net { formatted } itemsCount payoutReference",
    filters: [{ name: "status", label: "Status", options: ["OPEN", "AWAITING_RATE", "CLOSED", "PAID", "FAILED", "CARRIED_FORWARD", "SUPERSEDED"] }],
    columns: [
      { label: "Settlement", cell: (s) => s.id },
      { label: "Status", cell: (s) => status(s.status) },
      { label: "Cut-off", cell: (s) => time(s.cutoff) },
      { label: "Gross", cell: (s) => money(s.gross), num: true },
      { label: "Refunds", cell: (s) => money(s.refunds), num: true },
      { label: "Fees", cell: (s) => money(s.fees), num: true },
      { label: "Net", cell: (s) => money(s.net), num: true },
      { label: "Items", cell: (s) => s.itemsCount, num: true },
    ],
  },
  // Shown only when the server has `viewer.disputes` (probed by `available`).
  disputes: {
    name: "Disputes", title: "Disputes", field: "disputes",
    selection: "id status amount { formatted } reason createdAt",
    columns: [
      { label: "Dispute", cell: (d) => d.id },
      { label: "Status", cell: (d) => status(d.status) },
      { label: "Amount", cell: (d) => money(d.amount), num: true },
      { label: "Reason", cell: (d) => d.reason || "" },
      { label: "Opened", cell: (d) => time(d.createdAt) },
    ],
    optional: true,
  },
};

// Whether this server has a list: asks for an empty page (a field it lacks fails
// validation). Introspection is off outside development, so it is not used.
export async function available(spec) {
  try {
    await query(listDocument(spec), { first: 1, after: null });
    return true;
  } catch {
    return false;
  }
}

const CREATED = `subscription Created { paymentCreated { ${PAYMENT_FIELDS} } }`;
const UPDATED = `subscription Updated($id: ID!) { paymentUpdated(id: $id) { ... on Payment { ${PAYMENT_FIELDS} } } }`;
const FOLLOWED = 10; // newest payments followed live (a websocket runs at most 20 operations)

// The payments table, kept live: new payments appear at the top and the newest few
// are followed until they settle into a final status. Returns [element, stop].
export function livePayments(announce) {
  const table = connectionTable(LISTS.payments);
  const followed = [];
  const stopCreated = subscribe(CREATED, {}, (data) => {
    const payment = data.paymentCreated;
    if (table.prepend(payment)) announce(`New payment ${payment.id}`);
    followed.push(subscribe(UPDATED, { id: payment.id }, (update) => {
      if (update.paymentUpdated && update.paymentUpdated.id) table.update(update.paymentUpdated);
    }));
    if (followed.length > FOLLOWED) followed.shift()();
  }, () => announce("Live updates stopped; reload the list to refresh."));
  table.load();
  return [table.element, () => { stopCreated(); followed.forEach((stop) => stop()); }];
}
