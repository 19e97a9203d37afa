// Draws every <div data-figure="ID"> from the JSON in <script type="application/json" id="ID"> with plotly.
// Figures are built server-side (frontend/charts.py); labels are set as text by plotly, never parsed as HTML.
"use strict";
(function () {
  var config = { displaylogo: false, responsive: true, modeBarButtonsToRemove: ["lasso2d", "select2d"] };

  function draw(element) {
    var source = document.getElementById(element.getAttribute("data-figure"));
    if (!source || !window.Plotly) return;
    var figure = JSON.parse(source.textContent);
    window.Plotly.newPlot(element, figure.data, figure.layout, config).then(function () {
      element.setAttribute("data-rendered", "true");
    });
    if (figure.click_url) {
      element.on("plotly_click", function (event) {
        var point = event.points && event.points[0];
        if (!point || !point.customdata) return;
        var url = new URL(figure.click_url, window.location.href);
        url.searchParams.set("model", point.customdata[0]);
        url.searchParams.set("problem", point.customdata[1]);
        url.hash = "samples";
        window.location.assign(url.toString());
      });
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-figure]").forEach(draw);
  });
})();
