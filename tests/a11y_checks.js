// truce's own accessibility checks, run in the page by tests/test_accessibility_browser.py.
// Returns {problems: [...], tabbable: [...]}: each problem a line naming the rule and the element.
// The rules (WCAG 2.2 AA where they have one): a <title> and a lang; a label for every form field;
// a name for every link and button; a text alternative for every image and chart; a skip link first;
// no positive tabindex; text contrast of at least MIN_CONTRAST against what is behind it.
() => {
  const MIN_CONTRAST = 4.5;
  const problems = [];
  const say = (rule, element, extra = "") => problems.push(`${rule}: ${describe(element)}${extra ? " " + extra : ""}`);

  function describe(e) {
    let text = e.tagName.toLowerCase();
    if (e.id) text += `#${e.id}`;
    for (const name of ["name", "type", "href", "class"]) {
      const value = e.getAttribute && e.getAttribute(name);
      if (value) text += `[${name}="${value.slice(0, 60)}"]`;
    }
    const words = (e.textContent || "").trim().replace(/\s+/g, " ").slice(0, 40);
    return words ? `${text} "${words}"` : text;
  }

  function shown(e) {
    if (e.closest("[hidden], [aria-hidden='true']")) return false;
    // Inside a closed <details> only the summary shows; checkVisibility knows (content-visibility).
    if (e.checkVisibility && !e.checkVisibility({ visibilityProperty: true, contentVisibilityAuto: true })) return false;
    const style = getComputedStyle(e);
    if (style.display === "none" || style.visibility === "hidden") return false;
    const box = e.getBoundingClientRect();
    return box.width > 1 && box.height > 1;
  }

  function byIds(ids) {
    return (ids || "").split(/\s+/).map((id) => document.getElementById(id)).filter(Boolean)
      .map((e) => e.textContent.trim()).join(" ").trim();
  }

  function accessibleName(e) {
    return (e.getAttribute("aria-label") || "").trim() || byIds(e.getAttribute("aria-labelledby")) ||
      (e.labels ? [...e.labels].map((l) => l.textContent.trim()).join(" ").trim() : "") ||
      (e.getAttribute("title") || "").trim();
  }

  // A title and a language.
  if (!document.title.trim()) problems.push("page: no <title>");
  if (!document.documentElement.lang) problems.push("page: <html> has no lang");
  if (!document.querySelector("main")) problems.push("page: no <main>");
  if (!document.querySelector("h1")) problems.push("page: no <h1>");

  // Every form field has a label (a placeholder is not one: it goes when typing starts).
  for (const field of document.querySelectorAll("input, select, textarea")) {
    if (["hidden", "submit", "button", "reset", "image"].includes(field.type)) continue;
    if (!accessibleName(field)) say("a field without a label", field);
  }

  // Every link and button says where it goes or what it does.
  for (const control of document.querySelectorAll("a[href], button, [role='button']")) {
    const inner = [...control.querySelectorAll("img[alt]")].map((i) => i.alt).join(" ");
    const name = accessibleName(control) || control.textContent.trim() || inner.trim();
    if (!name) say("a link or button without a name", control);
  }

  // A frame says what it holds.
  for (const frame of document.querySelectorAll("iframe")) {
    if (!accessibleName(frame)) say("a frame without a title", frame);
  }

  // Images and charts carry a text alternative.
  for (const image of document.querySelectorAll("img")) {
    if (!image.hasAttribute("alt")) say("an image without alt", image);
  }
  const charts = ".plotly-graph-div, svg, canvas, [role='img']";
  for (const chart of document.querySelectorAll(charts)) {
    if (!shown(chart) || chart.id === "js-plotly-tester") continue; // plotly's off-screen text ruler
    const outer = chart.parentElement && chart.parentElement.closest("[role='img']");
    if (outer && accessibleName(outer)) continue; // part of a chart that has its alternative
    if (chart.closest("button, a[href]") && chart.tagName.toLowerCase() === "svg") {
      say("an icon not hidden from screen readers (add aria-hidden)", chart);
      continue;
    }
    const svgTitle = chart.tagName.toLowerCase() === "svg" ? chart.querySelector(":scope > title") : null;
    const alternative = accessibleName(chart) || (svgTitle ? svgTitle.textContent.trim() : "");
    const role = chart.getAttribute("role");
    if (!alternative) say("a chart without a text alternative", chart);
    else if (role !== "img" && !svgTitle) say("a chart with a label but no role=img", chart);
  }

  // A skip link comes first and leads to the main content.
  const focusable = "a[href], button:not([disabled]), input:not([type='hidden']):not([disabled]), " +
    "select:not([disabled]), textarea:not([disabled]), summary, iframe, [tabindex]:not([tabindex='-1'])";
  const first = document.querySelector(focusable);
  const target = first && first.getAttribute("href") && first.getAttribute("href").startsWith("#")
    ? document.getElementById(first.getAttribute("href").slice(1)) : null;
  if (!target) problems.push(`page: the first focusable element is not a skip link (${first ? describe(first) : "none"})`);
  else if (!(target.tagName === "MAIN" || target.closest("main") || target.querySelector("main"))) {
    problems.push(`page: the skip link leads to ${describe(target)}, not the main content`);
  }
  for (const e of document.querySelectorAll("[tabindex]")) {
    if (Number(e.getAttribute("tabindex")) > 0) say("a positive tabindex breaks the focus order", e);
  }

  // Text contrast, from the computed colours of the text and of everything behind it.
  function rgba(value) {
    const parts = value.match(/[\d.]+/g);
    if (!parts) return null;
    const [r, g, b, a] = parts.map(Number);
    return [r, g, b, a === undefined ? 1 : a];
  }
  function over(top, bottom) {
    const a = top[3];
    return [0, 1, 2].map((i) => top[i] * a + bottom[i] * (1 - a)).concat([1]);
  }
  function background(e) {
    const layers = [];
    for (let node = e; node && node.nodeType === 1; node = node.parentElement) {
      const style = getComputedStyle(node);
      if (style.backgroundImage !== "none") return null; // a gradient or picture: not measurable here
      const colour = rgba(style.backgroundColor);
      if (colour && colour[3] > 0) {
        layers.push(colour);
        if (colour[3] >= 1) break;
      }
    }
    return layers.reverse().reduce((below, layer) => over(layer, below), [255, 255, 255, 1]);
  }
  function luminance(colour) {
    const [r, g, b] = colour.slice(0, 3).map((v) => {
      const c = v / 255;
      return c <= 0.03928 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4);
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  }
  function opacity(e) {
    let value = 1;
    for (let node = e; node && node.nodeType === 1; node = node.parentElement) value *= Number(getComputedStyle(node).opacity);
    return value;
  }
  const measured = new Set();
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let text = walker.nextNode(); text; text = walker.nextNode()) {
    const e = text.parentElement;
    if (!text.textContent.trim() || !e || measured.has(e)) continue;
    measured.add(e);
    if (e.closest("svg, script, style, noscript, option, [disabled]") || !shown(e)) continue;
    const style = getComputedStyle(e);
    if (style.clip === "rect(0px, 0px, 0px, 0px)" || style.clipPath !== "none") continue; // for screen readers only
    const behind = background(e);
    const colour = rgba(style.color);
    if (!behind || !colour) continue;
    colour[3] *= opacity(e);
    const ink = over(colour, behind);
    const [light, dark] = [luminance(ink), luminance(behind)].sort((a, b) => b - a);
    const ratio = (light + 0.05) / (dark + 0.05);
    if (ratio < MIN_CONTRAST) {
      say("text contrast below 4.5:1", e, `${ratio.toFixed(2)}:1 (${style.color} on rgb(${behind.slice(0, 3).map(Math.round)}))`);
    }
  }

  // Tab stops once on a group of radio buttons: on the chosen one, else on the first.
  function oneStopOfItsGroup(radio) {
    const group = [...document.querySelectorAll(`input[type=radio]`)].filter((r) => r.name === radio.name && r.form === radio.form);
    const chosen = group.find((r) => r.checked);
    return chosen ? chosen === radio : group[0] === radio;
  }

  // What Tab should reach, in document order, for the test to press through.
  const tabbable = [...document.querySelectorAll(focusable)].filter(shown).filter((e) => e.tagName !== "IFRAME")
    .filter((e) => e.type !== "radio" || oneStopOfItsGroup(e))
    .map((e, i) => { e.dataset.a11yOrder = String(i); return describe(e); });
  return { problems, tabbable };
}
