// The live monitor (templates/admin/reports/live_monitor.html): every data-refresh-seconds, fetch the figures as JSON
// from data-url and write each into the element whose data-figure names its path ("windows.today.current.packets_used").
// A figure that is null is shown as data-none, the queue depth as data-unavailable (the broker did not answer).
(function () {
  "use strict";
  var root = document.getElementById("live-monitor");
  if (!root || !window.fetch) return;
  var seconds = Number(root.dataset.refreshSeconds) || 15;

  function lookup(data, path) {
    return path.split(".").reduce(function (node, key) {
      return node === null || node === undefined ? node : node[key];
    }, data);
  }

  function show(path, value) {
    if (value === null || value === undefined) {
      return path === "celery_queue_depth" ? root.dataset.unavailable : root.dataset.none;
    }
    if (typeof value === "number" && path.indexOf("seconds") !== -1) return value.toFixed(path.indexOf("age") !== -1 ? 0 : 1);
    return String(value);
  }

  function refresh() {
    fetch(root.dataset.url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (reply) { if (!reply.ok) throw new Error(String(reply.status)); return reply.json(); })
      .then(function (data) {
        root.querySelectorAll("[data-figure]").forEach(function (el) {
          el.textContent = show(el.dataset.figure, lookup(data, el.dataset.figure));
        });
        root.dataset.refreshedAt = data.at;
      })
      .catch(function () { root.dataset.stale = "1"; })
      .then(function () { window.setTimeout(refresh, seconds * 1000); });
  }

  window.setTimeout(refresh, seconds * 1000);
})();
