// «Сообщить о проблеме» for any site: <script src=".../static/widget.js" data-topics="roads.*" async></script>
// The button opens the appeal form of the platform in its own window (a first-party page there,
// so sign-in and its cookies work and the form cannot be framed by another site).
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script) return;
  var base = script.src.replace(/\/static\/widget\.js.*$/, "");
  var topics = script.getAttribute("data-topics") || "";
  var url = base + "/appeals/new?channel=widget" + (topics ? "&topics=" + encodeURIComponent(topics) : "");
  var link = document.createElement("a");
  link.href = url;
  link.target = "_blank";
  link.rel = "noopener";
  link.textContent = script.getAttribute("data-label") || "Сообщить о проблеме";
  link.className = "appeals-widget-button";
  var s = link.style;
  s.display = "inline-block"; s.padding = "0.7em 1.2em"; s.background = "#0d4cd3"; s.color = "#fff";
  s.borderRadius = "6px"; s.font = "600 16px/1.2 system-ui, sans-serif"; s.textDecoration = "none";
  link.addEventListener("click", function (event) {
    var popup = window.open(url, "appeals-form", "popup,width=760,height=900");
    if (popup) {  // blocked popups fall back to the link's new tab
      popup.opener = null;
      event.preventDefault();
    }
  });
  script.parentNode.insertBefore(link, script.nextSibling);
})();
