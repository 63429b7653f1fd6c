// One table for every list of the API (payments, refunds, settlements, disputes…): a
// Relay connection of `viewer`, paged with cursors, filtered by the connection's own
// `filter` argument, searched within the page shown. A new list is a config object.
import { query } from "./api.js";
import { h, replace } from "./dom.js";

const PAGE_SIZE = 20;

export function listDocument(spec) {
  const filterVar = spec.filterType ? `, $filter: ${spec.filterType}` : "";
  const filterArg = spec.filterType ? ", filter: $filter" : "";
  return `query ${spec.name}($first: Int!, $after: String${filterVar}) {
  viewer { ${spec.field}(first: $first, after: $after${filterArg}) {
    edges { cursor node { ${spec.selection} } }
    pageInfo { hasNextPage endCursor }
  } }
}`;
}

// spec: { name, title, field, selection, columns: [{ label, cell(node), num }],
//         filterType?, filters?: [{ name, label, options }], link?(node), lookup?(text) }
export function connectionTable(spec) {
  const state = { cursors: [null], page: 0, rows: [], more: false, search: "", filter: {} };
  const id = `t-${spec.field}`;
  const caption = h("caption", { class: "muted" });
  const body = h("tbody");
  const head = h("thead", {}, h("tr", {}, spec.columns.map((c) => h("th", { scope: "col", class: c.num ? "num" : null }, c.label))));
  const table = h("table", { id, "aria-describedby": `${id}-caption` }, caption, head, body);
  caption.id = `${id}-caption`;
  const previous = h("button", { type: "button", onclick: () => go(-1) }, "Previous page");
  const next = h("button", { type: "button", onclick: () => go(1) }, "Next page");
  const error = h("p", { class: "error", role: "alert" });

  function render() {
    const needle = state.search.trim().toLowerCase();
    const shown = state.rows.filter((node) => !needle || rowText(node).includes(needle));
    replace(body, shown.map(row));
    if (!shown.length) body.append(h("tr", {}, h("td", { colspan: spec.columns.length }, "Nothing to show.")));
    replace(caption, `${spec.title}: page ${state.page + 1}, ${shown.length} of ${state.rows.length} shown`);
    previous.disabled = state.page === 0;
    next.disabled = !state.more;
  }

  function rowText(node) {
    return spec.columns.map((c) => textOf(c.cell(node))).join(" ").toLowerCase();
  }

  function row(node) {
    const cells = spec.columns.map((c, i) => {
      let content = c.cell(node);
      if (i === 0 && spec.link) content = h("a", { href: spec.link(node) }, content);
      return h(i === 0 ? "th" : "td", { scope: i === 0 ? "row" : null, class: c.num ? "num" : null }, content);
    });
    return h("tr", { "data-id": node.id }, cells);
  }

  async function load() {
    error.textContent = "";
    const variables = { first: PAGE_SIZE, after: state.cursors[state.page] };
    if (spec.filterType) variables.filter = state.filter;
    try {
      const data = await query(listDocument(spec), variables);
      const connection = data.viewer[spec.field];
      state.rows = connection.edges.map((edge) => edge.node);
      state.more = connection.pageInfo.hasNextPage;
      state.cursors[state.page + 1] = connection.pageInfo.endCursor;
    } catch (failure) {
      error.textContent = `Could not load ${spec.title.toLowerCase()}: ${failure.message}`;
      state.rows = [];
    }
    render();
  }

  function go(step) {
    state.page = Math.max(0, state.page + step);
    load();
  }

  function restart() {
    state.cursors = [null];
    state.page = 0;
    load();
  }

  const search = h("input", { id: `${id}-search`, type: "search", placeholder: "id, amount, status…" });
  search.addEventListener("input", () => { state.search = search.value; render(); });
  const form = h("form", { role: "search", onsubmit: (event) => {
    event.preventDefault();
    const target = spec.lookup && spec.lookup(search.value.trim());
    if (target) location.hash = target;
  } }, h("label", { for: search.id }, `Search ${spec.title.toLowerCase()}`), search);
  const tools = h("div", { class: "tools" }, form, (spec.filters || []).map((f) => filterControl(f)));

  function filterControl(filter) {
    const select = h("select", { id: `${id}-${filter.name}` }, h("option", { value: "" }, "any"),
      filter.options.map((o) => h("option", { value: o }, o.toLowerCase().replace("_", " "))));
    select.addEventListener("change", () => {
      if (select.value) state.filter[filter.name] = select.value;
      else delete state.filter[filter.name];
      restart();
    });
    return h("span", {}, h("label", { for: select.id }, filter.label), select);
  }

  const element = h("section", { "aria-labelledby": `${id}-title` },
    h("h1", { id: `${id}-title` }, spec.title), tools, error, table,
    h("div", { class: "pager" }, previous, next));

  return {
    element,
    load,
    // A fixed filter (not offered as a control), e.g. { relayFailed: true }; then loads.
    setFilter(filter) { state.filter = { ...filter }; restart(); },
    // A live addition: shown at the top of the first page, if it passes the filters.
    prepend(node) {
      if (state.page !== 0 || state.rows.some((r) => r.id === node.id)) return false;
      if (state.filter.status && node.status !== state.filter.status) return false;
      state.rows = [node, ...state.rows].slice(0, PAGE_SIZE);
      render();
      return true;
    },
    update(node) {
      state.rows = state.rows.map((r) => (r.id === node.id ? { ...r, ...node } : r));
      render();
    },
  };
}

function textOf(content) {
  if (content instanceof Node) return content.textContent;
  return content === null || content === undefined ? "" : String(content);
}
