// Checkout: keep the "red packet" and "to pay" lines in step with the chosen packet. The server computes the real
// amounts again when the order is placed; this is only the preview. Money in integer fen, never floats.
(function () {
  "use strict";
  function yuan(fen) {
    var s = String(Math.floor(Math.abs(fen) / 100)).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
    var cents = String(Math.abs(fen) % 100);
    return "¥" + s + "." + (cents.length < 2 ? "0" + cents : cents);
  }
  function update(form) {
    var gross = parseInt(form.querySelector("[data-gross-fen]").getAttribute("data-gross-fen"), 10);
    var chosen = form.querySelector('input[name="packet"]:checked');
    var discount = chosen ? parseInt(chosen.getAttribute("data-discount-fen") || "0", 10) : 0;
    form.querySelector("[data-discount-out]").textContent = "−" + yuan(discount);
    form.querySelector("[data-pay-out]").textContent = yuan(gross - discount);
  }
  document.querySelectorAll("form[data-checkout]").forEach(function (form) {
    form.addEventListener("change", function (event) {
      if (event.target.name === "packet") update(form);
    });
  });
})();
