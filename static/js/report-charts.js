// The campaign report's charts (templates/admin/reports/campaign_report.html), drawn with the vendored Apache
// ECharts from the data the page embeds as JSON (#report-data). Each chart marks itself data-drawn when done.
(function () {
  "use strict";
  var source = document.getElementById("report-data");
  if (!source || !window.echarts) return;
  var data = JSON.parse(source.textContent);
  var L = data.labels;
  var num = function (v) { return v === null ? null : Number(v); };

  function draw(id, option) {
    var el = document.getElementById(id);
    if (!el) return;
    var chart = echarts.init(el, null, { renderer: "svg" });
    chart.setOption(Object.assign({ animation: false, tooltip: { trigger: "axis" } }, option));
    el.dataset.drawn = "1";
    window.addEventListener("resize", function () { chart.resize(); });
  }

  var days = data.daily.map(function (d) { return d.day.slice(5); });
  draw("chart-daily", {
    legend: { top: 0 },
    grid: { left: 50, right: 60, top: 36, bottom: 30 },
    xAxis: { type: "category", data: days },
    yAxis: [{ type: "value", name: L.issued }, { type: "value", name: "¥" }],
    series: [
      { name: L.issued, type: "bar", data: data.daily.map(function (d) { return d.issued_count; }) },
      { name: L.used, type: "bar", data: data.daily.map(function (d) { return d.used_count; }) },
      { name: L.sales, type: "line", yAxisIndex: 1, data: data.daily.map(function (d) { return num(d.sales_driven); }) },
      { name: L.cashback, type: "line", yAxisIndex: 1, data: data.daily.map(function (d) { return num(d.cashback); }) }
    ]
  });

  ["tier", "channel", "trigger", "province"].forEach(function (dimension) {
    var rows = data.breakdowns[dimension];
    var title = document.getElementById("chart-" + dimension).getAttribute("aria-label");
    draw("chart-" + dimension, {
      title: { text: title, left: "center", textStyle: { fontSize: 14 } },
      legend: { bottom: 0 },
      grid: { left: 50, right: 20, top: 40, bottom: 50 },
      xAxis: { type: "category", data: rows.map(function (r) { return r.label; }) },
      yAxis: { type: "value", name: "¥" },
      series: [
        { name: L.issued_value, type: "bar", data: rows.map(function (r) { return num(r.issued.value); }) },
        { name: L.used_value, type: "bar", data: rows.map(function (r) { return num(r.used.value); }) }
      ]
    });
  });

  var categoriesTitle = document.getElementById("chart-categories").getAttribute("aria-label");
  draw("chart-categories", {
    title: { text: categoriesTitle, left: "center", textStyle: { fontSize: 14 } },
    tooltip: { trigger: "item", formatter: "{b}: ¥{c} ({d}%)" },
    series: [{
      type: "pie", radius: ["35%", "65%"], top: 30,
      data: data.categories.map(function (c) { return { name: c.category, value: num(c.sales) }; })
    }]
  });

  var salesTitle = document.getElementById("chart-sales").getAttribute("aria-label");
  draw("chart-sales", {
    title: { text: salesTitle, left: "center", textStyle: { fontSize: 14 } },
    grid: { left: 60, right: 20, top: 40, bottom: 30 },
    xAxis: { type: "category", data: [L.yoy, L.mom] },
    yAxis: { type: "value", name: "¥" },
    legend: { bottom: 0 },
    series: [
      { name: L.current, type: "bar", data: [num(data.sales.current), num(data.sales.current)] },
      { name: L.year_before + " / " + L.month_before, type: "bar",
        data: [num(data.sales.year_before), num(data.sales.month_before)] }
    ]
  });
})();
