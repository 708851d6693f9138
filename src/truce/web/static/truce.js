// truce's own small script. No third-party code; every page works without it.
document.documentElement.classList.add("js");

// Ask before a form marked data-confirm is sent.
document.addEventListener("submit", (event) => {
  const message = event.target.getAttribute("data-confirm");
  if (message && !window.confirm(message)) event.preventDefault();
});

// A form marked data-autosubmit is sent as soon as one of its choices changes (the model switcher).
document.addEventListener("change", (event) => {
  const form = event.target.closest("form[data-autosubmit]");
  if (form && event.target.matches("select")) form.requestSubmit();
});

// This script is the last thing in <body>: the page above it is already there.
{
  // The menu button on a phone opens and closes the navigation.
  const toggle = document.querySelector(".menu-toggle");
  if (toggle) {
    toggle.addEventListener("click", () => {
      const open = toggle.closest(".bar").classList.toggle("open");
      toggle.setAttribute("aria-expanded", String(open));
    });
  }
  // The brief is a page of its own in a frame: make the frame as tall as the brief.
  for (const frame of document.querySelectorAll("iframe[data-fit]")) {
    const fit = () => {
      const doc = frame.contentDocument;
      if (doc && doc.documentElement) frame.style.height = doc.documentElement.scrollHeight + 2 + "px";
    };
    const loaded = () => {
      fit();
      frame.dataset.loaded = "true";
      if (frame.contentWindow) frame.contentWindow.addEventListener("resize", fit);
    };
    frame.addEventListener("load", loaded);
    const doc = frame.contentDocument;
    if (doc && doc.readyState === "complete" && doc.URL !== "about:blank") loaded();
  }
}
