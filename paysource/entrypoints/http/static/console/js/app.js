// The console's entry: sign-in, the sections, and the routes (#/overview,
// #/payments, #/payments/<id>, #/refunds, #/settlements, #/disputes, #/operations).
import { GraphQLError, query, signIn, signOut, signedIn } from "./api.js";
import { h, replace } from "./dom.js";
import { LISTS, available, livePayments } from "./lists.js";
import { connectionTable } from "./table.js";
import { overviewPage } from "./overview.js";
import { paymentPage } from "./payment.js";
import { operationsPage } from "./operations.js";

const $ = (id) => document.getElementById(id);
let viewer = null;
let sections = [];
let stopView = () => {};

function announce(text) {
  $("live").textContent = text;
}

function listPage(name) {
  const table = connectionTable(LISTS[name]);
  table.load();
  return [table.element, () => {}];
}

const ROUTES = {
  overview: () => overviewPage(),
  payments: (id) => (id ? paymentPage(id, announce) : livePayments(announce)),
  refunds: () => listPage("refunds"),
  settlements: () => listPage("settlements"),
  disputes: () => listPage("disputes"),
  operations: () => operationsPage(),
};

function route() {
  if (!signedIn()) return;
  const [name, id] = location.hash.replace(/^#\/?/, "").split("/");
  const section = sections.includes(name) ? name : "overview";
  stopView();
  const [element, stop] = ROUTES[section](id ? decodeURIComponent(id) : null);
  stopView = stop;
  replace($("view"), element);
  for (const link of $("nav").querySelectorAll("a")) {
    if (link.dataset.section === section) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  const heading = element.querySelector("h1");
  if (heading) { heading.tabIndex = -1; heading.focus({ preventScroll: true }); }
}

async function start(secret) {
  signIn(secret);
  const data = await query("query Me { viewer { role merchant { id name } } }");
  viewer = data.viewer;
  sections = ["overview", "payments", "refunds", "settlements"];
  if (await available(LISTS.disputes)) sections.push("disputes");
  if (viewer.role === "ADMIN") sections.push("operations");
  replace($("nav"), sections.map((s) => h("a", { href: `#/${s}`, "data-section": s }, s[0].toUpperCase() + s.slice(1))));
  $("who").textContent = viewer.merchant ? `${viewer.merchant.name} (${viewer.merchant.id})` : viewer.role.toLowerCase();
  $("sign-in").hidden = true;
  $("nav").hidden = false;
  $("view").hidden = false;
  $("sign-out").hidden = false;
  route();
}

function stop() {
  stopView();
  stopView = () => {};
  signOut();
  viewer = null;
  replace($("view"));
  replace($("nav"));
  $("who").textContent = "";
  $("view").hidden = true;
  $("nav").hidden = true;
  $("sign-out").hidden = true;
  $("sign-in").hidden = false;
  $("credential").focus();
}

$("sign-in-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const field = $("credential");
  const secret = field.value.trim();
  field.value = ""; // the DOM keeps no copy of it
  $("sign-in-error").textContent = "";
  try {
    await start(secret);
  } catch (failure) {
    signOut();
    const why = failure instanceof GraphQLError && failure.status === 401 ? "That key or token was refused." : failure.message;
    $("sign-in-error").textContent = why;
  }
});
$("sign-out").addEventListener("click", stop);
window.addEventListener("hashchange", route);
