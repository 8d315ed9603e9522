// Gallery: a muted preview plays while a finished card is hovered or focused; on a touch
// screen the first tap on a card's picture plays it and a second opens the video. "Copy
// prompt" buttons copy their target's text. Delegated, so cards added by htmx (endless
// scroll, live updates) work without re-initialisation.
(function () {
  var touching = false; // the latest pointer was a finger: hovering and focus do not start previews
  document.addEventListener("pointerdown", function (event) { touching = event.pointerType === "touch"; }, true);
  document.addEventListener("keydown", function () { touching = false; }, true);
  function previewOf(target) {
    var card = target && target.closest && target.closest(".gallery-card[data-preview]");
    return card ? card.querySelector("video.preview") : null;
  }
  function start(video) {
    if (!video.src) video.src = video.dataset.src;
    video.closest(".gallery-card").classList.add("previewing");
    var playing = video.play();
    if (playing && playing.catch) playing.catch(function () {});
  }
  function stop(video) {
    video.pause();
    video.closest(".gallery-card").classList.remove("previewing");
  }
  function leaving(event) {
    if (event.pointerType === "touch") return; // a finger lifted: the tapped preview goes on playing
    var video = previewOf(event.target);
    if (video && !(event.relatedTarget && video.closest(".gallery-card").contains(event.relatedTarget))) stop(video);
  }
  document.addEventListener("pointerover", function (event) {
    var video = previewOf(event.target);
    if (video && video.paused && event.pointerType !== "touch") start(video);
  });
  document.addEventListener("focusin", function (event) {
    var video = previewOf(event.target);
    if (video && video.paused && !touching) start(video);
  });
  document.addEventListener("pointerout", leaving);
  document.addEventListener("focusout", leaving);
  // A tap on a picture that is not playing plays it instead of opening the video.
  document.addEventListener("click", function (event) {
    if (!touching) return;
    var thumb = event.target.closest && event.target.closest(".gallery-thumb");
    var video = previewOf(thumb);
    if (!video || video.closest(".gallery-card").classList.contains("previewing")) return;
    event.preventDefault();
    document.querySelectorAll(".gallery-card.previewing video.preview").forEach(stop);
    start(video);
  });

  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("button[data-copy-target]");
    if (!button) return;
    var source = document.querySelector(button.dataset.copyTarget);
    if (!source || !navigator.clipboard) return;
    navigator.clipboard.writeText(source.textContent.trim()).then(function () {
      var label = button.textContent;
      button.textContent = "Copied";
      setTimeout(function () { button.textContent = label; }, 1500);
    });
  });
})();

// The bulk bar: "Select all" ticks every card on the page (the pages scrolled in so far),
// and a count says how many are ticked. Without JavaScript both stay hidden.
(function () {
  var bar = document.querySelector(".bulk-select");
  var selectAll = document.getElementById("select-all");
  var count = document.getElementById("selected-count");
  if (!bar || !selectAll || !count) return;
  var limit = parseInt(count.dataset.limit, 10);
  function boxes() {
    return Array.prototype.slice.call(document.querySelectorAll('#gallery-grid input.select[form="bulk-form"]'));
  }
  function refresh() {
    var all = boxes();
    var ticked = all.filter(function (box) { return box.checked; }).length;
    var text = ticked ? ticked + " selected" : "None selected";
    if (ticked > limit) text += " (an action takes the first " + limit + ")";
    if (count.textContent !== text) {
      count.textContent = text;
      if (window.studioAnnounce) window.studioAnnounce(text);
    }
    selectAll.checked = all.length > 0 && ticked === all.length;
    selectAll.indeterminate = ticked > 0 && ticked < all.length;
  }
  document.addEventListener("change", function (event) {
    if (event.target === selectAll) {
      var on = selectAll.checked;
      boxes().forEach(function (box) { box.checked = on; });
      refresh();
    } else if (event.target.matches && event.target.matches("input.select")) {
      refresh();
    }
  });
  // New pages, filtered results and live card updates change what there is to tick.
  document.addEventListener("htmx:afterSettle", refresh);
  bar.hidden = false;
  refresh();
})();

// The filters fold away behind "Filters (N)" on a narrow screen; on a wide one they stay open.
(function () {
  var fold = document.getElementById("filters-fold");
  if (!fold) return;
  var narrow = window.matchMedia("(max-width: 760px)");
  function fit() { fold.open = !narrow.matches; }
  narrow.addEventListener("change", fit);
  fit();
})();
