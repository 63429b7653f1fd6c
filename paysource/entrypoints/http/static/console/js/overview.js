// The overview: today's figures and 30 days of volume per currency, balances, and the
// next settlement. One query.
import { query } from "./api.js";
import { volumeChart } from "./chart.js";
import { h, money, replace, status, time } from "./dom.js";

const OVERVIEW = `query Overview($since: Date!) { viewer {
  balances { currency pending { formatted } available { formatted } paidOut { formatted } }
  dailyVolume(since: $since) { date currency capturesCount refundsCount
    captured { amountMinor formatted } refunded { amountMinor formatted }
    fees { amountMinor formatted } reversalsCount reversed { amountMinor formatted }
    reversedFees { amountMinor formatted } net { amountMinor formatted } }
  nextSettlementCutoff
  settlements(first: 5) { nodes { id status currency cutoff net { formatted } } }
} }`;

const DAY_MS = 86400000;

export function overviewPage() {
  const element = h("section", { "aria-labelledby": "overview-title" },
    h("h1", { id: "overview-title" }, "Overview"), h("p", { class: "muted" }, "Loading…"));
  load(element);
  return [element, () => {}];
}

async function load(element) {
  const today = new Date().toISOString().slice(0, 10);
  const since = new Date(Date.now() - 29 * DAY_MS).toISOString().slice(0, 10);
  try {
    const { viewer } = await query(OVERVIEW, { since });
    replace(element, h("h1", { id: "overview-title" }, "Overview"),
      todays(viewer.dailyVolume.filter((d) => d.date === today)),
      balances(viewer.balances), charts(viewer.dailyVolume, since),
      settlement(viewer.nextSettlementCutoff, viewer.settlements.nodes));
  } catch (failure) {
    element.append(h("p", { class: "error", role: "alert" }, failure.message));
  }
}

function card(title, rows) {
  return h("div", { class: "card" }, h("h3", {}, title),
    h("dl", {}, rows.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)])));
}

function todays(days) {
  const cards = days.map((d) => card(d.currency, [
    ["Volume", `${money(d.captured)} (${d.capturesCount})`],
    ["Refunds", `${money(d.refunded)} (${d.refundsCount})`],
    ["Fees", money(d.fees)],
    // A reversed capture (the acquirer never made it) leaves net, with its fee given back.
    ...(d.reversalsCount ? [["Reversed", `${money(d.reversed)} (${d.reversalsCount}), fees back ${money(d.reversedFees)}`]] : []),
    ["Net", money(d.net)],
  ]));
  return h("section", { "aria-labelledby": "today-title" }, h("h2", { id: "today-title" }, "Today (UTC)"),
    cards.length ? h("div", { class: "cards" }, cards) : h("p", {}, "Nothing captured or refunded today."));
}

function balances(rows) {
  const cards = rows.map((b) => card(b.currency, [
    ["Pending", money(b.pending)], ["Available", money(b.available)], ["Paid out", money(b.paidOut)],
  ]));
  return h("section", { "aria-labelledby": "balances-title" }, h("h2", { id: "balances-title" }, "Balances"),
    cards.length ? h("div", { class: "cards" }, cards) : h("p", {}, "No balances yet."));
}

// One chart per currency, every day of the 30 shown (days without activity are zero).
function charts(volume, since) {
  const currencies = [...new Set(volume.map((d) => d.currency))].sort();
  const start = Date.parse(`${since}T00:00:00Z`);
  const dates = Array.from({ length: 30 }, (_, i) => new Date(start + i * DAY_MS).toISOString().slice(0, 10));
  const sections = currencies.map((currency) => {
    const byDate = new Map(volume.filter((d) => d.currency === currency).map((d) => [d.date, d]));
    const days = dates.map((date) => {
      const d = byDate.get(date);
      return { date, captured: d ? BigInt(d.captured.amountMinor) : 0n, net: d ? BigInt(d.net.amountMinor) : 0n };
    });
    const label = `Captured and net ${currency} per day, ${dates[0]} to ${dates[29]}`;
    return h("figure", {}, volumeChart(days, currency, label), h("figcaption", {}, legend(), label));
  });
  return h("section", { "aria-labelledby": "volume-title" }, h("h2", { id: "volume-title" }, "Last 30 days"),
    sections.length ? sections : h("p", {}, "No volume in the last 30 days."));
}

function legend() {
  return h("span", { class: "legend" },
    h("span", {}, h("span", { class: "swatch swatch-captured" }), "captured"),
    h("span", {}, h("span", { class: "swatch swatch-net" }), "net"));
}

function settlement(cutoff, recent) {
  const rows = recent.map((s) => h("li", {}, `${s.id} `, status(s.status), ` ${s.currency} cut-off `, time(s.cutoff), ` net ${s.net.formatted}`));
  return h("section", { "aria-labelledby": "settlement-title" }, h("h2", { id: "settlement-title" }, "Settlements"),
    h("p", {}, cutoff ? ["Next cut-off: ", time(cutoff)] : "The settlement schedule is off."),
    rows.length ? h("ul", {}, rows) : h("p", {}, "No settlements yet."));
}
