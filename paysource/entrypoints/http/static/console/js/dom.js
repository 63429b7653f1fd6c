// Building elements from data. Text goes in through textContent only, never innerHTML:
// nothing a merchant or a shopper typed (names, metadata) can become markup.

export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else if (value === true) element.setAttribute(name, "");
    else element.setAttribute(name, String(value));
  }
  append(element, children);
  return element;
}

export function append(element, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

export function replace(element, ...children) {
  element.replaceChildren();
  return append(element, children);
}

const SVG = "http://www.w3.org/2000/svg";

export function svg(tag, attributes = {}, ...children) {
  const element = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, String(value));
  for (const child of children.flat(Infinity)) {
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

export function status(value) {
  const text = String(value || "").toLowerCase();
  return h("span", { class: `status status-${text}` }, text);
}

export function time(iso) {
  if (!iso) return "";
  const shown = iso.replace("T", " ").replace(/(\.\d{3})\d+/, "$1").replace("+00:00", " UTC");
  return h("time", { datetime: iso }, shown);
}

export function money(value) {
  return value ? value.formatted : "";
}
