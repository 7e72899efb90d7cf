// Simple browser signals for fraud reviewers (docs/ANTIFRAUD.md §2): written once a day into a first-party cookie
// the server reads on earning requests. Never a key — the device id itself is the server's signed cookie.
(function () {
  if (document.cookie.indexOf("rp_dsig=") !== -1) return;
  var signals = {
    screen: screen.width + "x" + screen.height + "@" + (window.devicePixelRatio || 1),
    tz: (Intl.DateTimeFormat().resolvedOptions().timeZone || ""),
    lang: navigator.language || "",
    platform: navigator.platform || "",
    cores: String(navigator.hardwareConcurrency || ""),
    touch: String(navigator.maxTouchPoints || 0)
  };
  var value = btoa(unescape(encodeURIComponent(JSON.stringify(signals))))
    .replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  document.cookie = "rp_dsig=" + value + "; max-age=86400; path=/; samesite=lax";
})();
