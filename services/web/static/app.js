// Progressive enhancement of the server-rendered pages: every page works without this file.
(function () {
  "use strict";
  var csrf = function (form) {
    var field = form && form.querySelector("input[name=csrf_token]");
    return field ? field.value : "";
  };

  // Topic search: type to filter the grouped list (the <select> stays the real control).
  function topicFilter() {
    var select = document.getElementById("topic");
    var box = document.querySelector(".topic-search");
    var input = document.getElementById("topic-filter");
    if (!select || !box || !input) return;
    box.hidden = false;
    var options = Array.prototype.slice.call(select.querySelectorAll("option[value]:not([value=''])"));
    input.addEventListener("input", function () {
      var words = input.value.toLowerCase().trim().split(/\s+/).filter(Boolean);
      var first = null;
      options.forEach(function (opt) {
        var text = (opt.textContent + " " + opt.parentNode.label).toLowerCase();
        var show = words.every(function (w) { return text.indexOf(w) >= 0; });
        opt.hidden = !show;
        opt.disabled = !show;
        if (show && !first) first = opt;
      });
      Array.prototype.forEach.call(select.querySelectorAll("optgroup"), function (group) {
        group.hidden = !group.querySelector("option:not([hidden])");
      });
      if (words.length && first && (select.selectedIndex < 1 || select.options[select.selectedIndex].hidden)) {
        select.value = first.value;
      }
    });
  }

  // The photo knows where it was taken: offer that place; it is used only when the person agrees.
  function offerPlace(item, hint) {
    var lat = document.getElementById("lat"), lon = document.getElementById("lon");
    if (!lat || !lon) return;
    var button = document.createElement("button");
    button.type = "button";
    button.className = "use-photo-place";
    button.textContent = document.getElementById("previews").getAttribute("data-use-place");
    button.addEventListener("click", function () {
      lat.value = hint.lat.toFixed(6);
      lon.value = hint.lon.toFixed(6);
      document.dispatchEvent(new CustomEvent("appeal:point", { detail: hint }));
      button.disabled = true;
    });
    item.appendChild(button);
  }

  // Photos: previews at once, each uploaded with a progress bar; the form then sends media ids.
  function photos() {
    var input = document.getElementById("photos");
    var list = document.getElementById("previews");
    var form = document.getElementById("appeal-form");
    if (!input || !list || !form || !window.FormData || !window.XMLHttpRequest) return;
    input.addEventListener("change", function () {
      Array.prototype.forEach.call(input.files, function (file) {
        var item = document.createElement("li");
        var img = document.createElement("img");
        img.src = URL.createObjectURL(file);
        img.alt = file.name;
        img.width = 120;
        var bar = document.createElement("progress");
        bar.max = 100;
        bar.value = 0;
        bar.setAttribute("aria-label", file.name);
        item.appendChild(img);
        item.appendChild(bar);
        list.appendChild(item);
        var data = new FormData();
        data.append("photo", file);
        data.append("csrf_token", csrf(form));
        var xhr = new XMLHttpRequest();
        xhr.open("POST", "/appeals/photos");
        xhr.upload.onprogress = function (e) { if (e.lengthComputable) bar.value = Math.round(100 * e.loaded / e.total); };
        xhr.onload = function () {
          var ok = xhr.status === 200;
          var answer = {};
          try { answer = JSON.parse(xhr.responseText); } catch (err) { ok = false; }
          if (ok && answer.id) {
            bar.value = 100;
            var hidden = document.createElement("input");
            hidden.type = "hidden";
            hidden.name = "media_ids";
            hidden.value = answer.id;
            form.appendChild(hidden);
            item.className = "uploaded";
            if (answer.location_hint) offerPlace(item, answer.location_hint);
          } else {
            item.className = "failed";
            var note = document.createElement("span");
            note.textContent = "✕ " + (answer.error || xhr.status);
            item.appendChild(note);
          }
        };
        xhr.send(data);
      });
      input.value = "";  // sent already: the form must not send the bytes again
    });
  }

  // The point on the map: a click fills latitude and longitude (which can also be typed).
  function pickMap() {
    var box = document.getElementById("pick-map");
    if (!box || !window.L) return;
    var lat = document.getElementById("lat"), lon = document.getElementById("lon");
    box.hidden = false;
    var hint = document.querySelector(".map-hint");
    if (hint) hint.hidden = false;
    var map = L.map(box, { attributionControl: false, zoomSnap: 0.25 }).setView([57.6, 43.8], 8);
    var marker = null;
    function place(latlng) {
      if (marker) marker.setLatLng(latlng); else marker = L.circleMarker(latlng, { radius: 8, className: "picked-point" }).addTo(map);
    }
    if (lat.value && lon.value) place([parseFloat(lat.value), parseFloat(lon.value)]);
    fetch(box.getAttribute("data-areas-url"), { credentials: "same-origin" }).then(function (r) { return r.json(); }).then(function (areas) {
      var layer = L.geoJSON(areas, {
        interactive: false,
        style: function (f) { return { className: "area area-" + f.properties.id, weight: 1 }; }
      }).addTo(map);
      if (layer.getBounds().isValid()) map.fitBounds(layer.getBounds());
    }).catch(function () {});
    document.addEventListener("appeal:point", function (e) {
      var point = [e.detail.lat, e.detail.lon];
      place(point);
      map.setView(point, Math.max(map.getZoom(), 12));
    });
    map.on("click", function (e) {
      lat.value = e.latlng.lat.toFixed(6);
      lon.value = e.latlng.lng.toFixed(6);
      place(e.latlng);
    });
  }

  // Saved answers: choosing one fills the answer box at once (without script: the "use it" button).
  function templatePick() {
    var select = document.getElementById("template");
    if (!select) return;
    var target = document.getElementById(select.getAttribute("data-target"));
    Array.prototype.forEach.call(document.querySelectorAll(".no-js-only"), function (el) { el.hidden = true; });
    select.addEventListener("change", function () {
      var option = select.options[select.selectedIndex];
      if (target && option && option.getAttribute("data-text")) {
        target.value = option.getAttribute("data-text");
        target.focus();
      }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    templatePick();
    topicFilter();
    photos();
    pickMap();
  });
})();
