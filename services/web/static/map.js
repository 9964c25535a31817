// The public map: municipalities' polygons shaded by appeal count, hotspots as circles. No tile
// server is needed; a deployment with one sets WEB_TILE_URL.
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    var box = document.getElementById("zones-map");
    var source = document.getElementById("map-data");
    if (!box || !source || !window.L) return;
    var data = JSON.parse(source.textContent);
    var map = L.map(box, { attributionControl: !!box.getAttribute("data-tiles"), zoomSnap: 0.25 });
    var tiles = box.getAttribute("data-tiles");
    if (tiles) L.tileLayer(tiles, { attribution: box.getAttribute("data-attribution") || "" }).addTo(map);
    var max = 1;
    data.areas.features.forEach(function (f) { max = Math.max(max, f.properties.appeals); });
    var layer = L.geoJSON(data.areas, {
      style: function (f) {
        var n = f.properties.appeals;
        return {
          className: "area area-" + f.properties.id + (n ? " zone-active" : ""),
          weight: 1, fillOpacity: n ? 0.2 + 0.6 * n / max : 0.08
        };
      },
      onEachFeature: function (f, l) { l.bindTooltip(f.properties.name + ": " + f.properties.appeals); }
    }).addTo(map);
    // The view first: a circle marker added to a map without one cannot be drawn (Leaflet throws).
    if (layer.getBounds().isValid()) map.fitBounds(layer.getBounds()); else map.setView([57.6, 43.8], 8);
    data.hotspots.forEach(function (h) {
      L.circleMarker([h.lat, h.lon], { radius: 6 + Math.min(h.appeals, 20), className: "hotspot" })
        .bindTooltip((h.topic || "") + ": " + h.appeals).addTo(map);
    });
  });
})();
