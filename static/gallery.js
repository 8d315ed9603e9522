// Gallery: a muted preview plays while a finished card is hovered or focused, and
// "Copy prompt" buttons copy their target's text. Delegated, so cards added by htmx
// (endless scroll, live updates) work without re-initialisation.
(function () {
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
    var video = previewOf(event.target);
    if (video && !(event.relatedTarget && video.closest(".gallery-card").contains(event.relatedTarget))) stop(video);
  }
  document.addEventListener("pointerover", function (event) {
    var video = previewOf(event.target);
    if (video && video.paused) start(video);
  });
  document.addEventListener("focusin", function (event) {
    var video = previewOf(event.target);
    if (video && video.paused) start(video);
  });
  document.addEventListener("pointerout", leaving);
  document.addEventListener("focusout", leaving);

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
