// Charts drew as the page was read; size them again to their cards now that the layout is final.
window.addEventListener("load", function () {
  document.querySelectorAll(".js-plotly-plot").forEach(function (chart) { Plotly.Plots.resize(chart); });
});
