// Small DOM helpers. The page's Content-Security-Policy allows no inline style: elements get
// classes, text and attributes, never style attributes or HTML strings.

export const $ = (id) => document.getElementById(id);

/** An element with a class (or none) and text or children. */
export function el(tag, cls, ...children) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

const SVG_NS = "http://www.w3.org/2000/svg";

export function svg(tag, attrs = {}) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  return node;
}

/** Show or hide (the hidden attribute; CSS makes [hidden] win). */
export function show(node, visible) {
  node.hidden = !visible;
}

/** Restart a CSS animation class (a flash) on `node`. */
export function restartClass(node, cls) {
  node.classList.remove(cls);
  void node.getBoundingClientRect(); // a reflow restarts the animation
  node.classList.add(cls);
}

/** Replace a <select>'s options with [[value, label]] and keep its value when still offered. */
export function setOptions(select, options, value) {
  const keep = value ?? select.value;
  select.replaceChildren(
    ...options.map(([v, label, group]) => {
      const option = el("option", null, label);
      option.value = v;
      if (group) option.dataset.group = group;
      return option;
    }),
  );
  if (options.some(([v]) => v === keep)) select.value = keep;
}
