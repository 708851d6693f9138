// RevOps' pages: the funnel editor's line numbers and its jump to a bad line. Our own code; the
// editor works without it (the server numbers the lines and names the bad ones).
{
  const editor = document.querySelector(".editor");
  const text = editor && editor.querySelector("textarea");
  const gutter = editor && editor.querySelector(".gutter");
  if (text && gutter) {
    const bad = new Set((editor.dataset.badLines || "").split(",").filter(Boolean).map(Number));
    const number = () => {
      const count = text.value.split("\n").length - (text.value.endsWith("\n") ? 1 : 0) || 1;
      if (gutter.childElementCount === count) return;
      gutter.replaceChildren();
      for (let n = 1; n <= count; n += 1) {
        const line = document.createElement("span");
        line.textContent = n + "\n";
        if (bad.has(n)) line.className = "bad";
        gutter.append(line);
      }
    };
    text.addEventListener("input", number);
    text.addEventListener("scroll", () => { gutter.scrollTop = text.scrollTop; });
    number();
    // "line 8" in the list of problems: put the cursor on that line and scroll it into view.
    const goTo = (line) => {
      const lines = text.value.split("\n");
      const start = lines.slice(0, line - 1).reduce((sum, l) => sum + l.length + 1, 0);
      text.focus();
      text.setSelectionRange(start, start + (lines[line - 1] || "").length);
      const height = text.scrollHeight / Math.max(lines.length, 1);
      text.scrollTop = Math.max(0, (line - 3) * height);
      gutter.scrollTop = text.scrollTop;
    };
    for (const link of document.querySelectorAll(".goto-line")) {
      link.addEventListener("click", (event) => {
        event.preventDefault();
        goTo(Number(link.dataset.line));
      });
    }
    const errors = document.getElementById("config-errors");
    if (errors) errors.scrollIntoView({ block: "start" });
  }
}
