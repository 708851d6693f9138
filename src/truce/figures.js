// truce's charts: each <div data-figure> carries a Plotly figure as JSON (truce.figures);
// this draws them with plotly.js. The page itself holds no script but files like this one.
(function () {
  if (!window.Plotly) return;
  document.querySelectorAll("[data-figure]").forEach(function (chart) {
    var figure = JSON.parse(chart.getAttribute("data-figure"));
    var config = JSON.parse(chart.getAttribute("data-config") || "{}");
    window.Plotly.newPlot(chart, figure.data, figure.layout, config);
  });
})();
