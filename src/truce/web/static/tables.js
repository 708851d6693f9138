// Sortable, searchable tables: truce's own, no third-party code. Without it a table shows every row
// as the server sorted it; with it, a table marked data-table gets a search box, a sort button on
// each column heading, and (with data-top="N") only its first N rows until "Show all" is pressed.
// A cell's data-sort holds its number (money, shares) so sorting never reads formatted text.
(() => {
  const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: "base" });

  function valueOf(row, column) {
    const cell = row.cells[column];
    if (!cell) return "";
    return cell.hasAttribute("data-sort") ? cell.getAttribute("data-sort") : cell.textContent.trim();
  }

  // Empty (no value, e.g. ROI without spend) sorts last whichever way.
  function compare(a, b, numeric, descending) {
    if (numeric && (a === "" || b === "")) return a === b ? 0 : a === "" ? 1 : -1;
    const order = numeric ? Number(a) - Number(b) : collator.compare(a, b);
    return descending ? -order : order;
  }

  function enhance(table, index) {
    const body = table.tBodies[0];
    if (!body) return;
    const rows = Array.from(body.rows);
    const top = Number(table.getAttribute("data-top")) || 0;
    const what = table.getAttribute("data-label") || "rows";
    const id = table.id || `table-${index}`;
    let showAll = top === 0 || rows.length <= top;

    const tools = document.createElement("div");
    tools.className = "table-tools";
    const label = document.createElement("label");
    label.textContent = `Search ${what} `;
    const search = document.createElement("input");
    search.type = "search";
    search.setAttribute("aria-controls", id);
    search.setAttribute("data-testid", `search-${id}`);
    label.appendChild(search);
    const status = document.createElement("span");
    status.className = "note";
    status.setAttribute("role", "status");
    status.setAttribute("aria-live", "polite");
    const more = document.createElement("button");
    more.type = "button";
    more.className = "secondary";
    more.setAttribute("data-testid", `show-all-${id}`);
    tools.append(label, status, more);
    const holder = table.closest(".scroll") || table;
    holder.parentNode.insertBefore(tools, holder);

    function show() {
      const wanted = search.value.trim().toLowerCase();
      const matching = Array.from(body.rows).filter((row) => !wanted || row.textContent.toLowerCase().includes(wanted));
      const limit = showAll || wanted ? matching.length : top;
      for (const row of body.rows) row.hidden = true;
      matching.slice(0, limit).forEach((row) => { row.hidden = false; });
      const shown = Math.min(limit, matching.length);
      if (wanted) status.textContent = `${matching.length} of ${rows.length} ${what} match`;
      else if (shown < rows.length) status.textContent = `First ${shown} of ${rows.length} ${what}`;
      else status.textContent = `${rows.length} ${what}`;
      more.hidden = showAll || wanted !== "" || rows.length <= top;
      more.textContent = `Show all ${rows.length}`;
    }

    const headings = table.tHead ? Array.from(table.tHead.rows[0].cells) : [];
    headings.forEach((th, column) => {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "sort";
      button.textContent = th.textContent;
      button.setAttribute("data-testid", `sort-${id}-${column}`);
      th.textContent = "";
      th.appendChild(button);
      const numeric = th.classList.contains("num");
      button.addEventListener("click", () => {
        // Numbers first sort largest first (what a marketer asks: the top campaigns), names A to Z.
        const current = th.getAttribute("aria-sort");
        const descending = current ? current === "ascending" : numeric;
        headings.forEach((other) => other.removeAttribute("aria-sort"));
        th.setAttribute("aria-sort", descending ? "descending" : "ascending");
        const sorted = Array.from(body.rows).sort((a, b) =>
          compare(valueOf(a, column), valueOf(b, column), numeric, descending));
        body.append(...sorted);
        show();
      });
    });
    search.addEventListener("input", show);
    more.addEventListener("click", () => { showAll = true; show(); });
    show();
  }

  document.querySelectorAll("table[data-table]").forEach(enhance);
})();
