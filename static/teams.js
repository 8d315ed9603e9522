// Copy buttons for invite and share links: a button[data-copy] copies the value of the field whose id
// it names. Without JavaScript the buttons stay hidden and the link is copied by hand.
(function () {
  function copy(field) {
    if (navigator.clipboard && window.isSecureContext) return navigator.clipboard.writeText(field.value);
    field.select();
    return document.execCommand("copy") ? Promise.resolve() : Promise.reject(new Error("copy refused"));
  }
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("button[data-copy]");
    if (!button) return;
    var field = document.getElementById(button.dataset.copy);
    var status = button.parentElement.querySelector(".copy-status");
    function say(text) {
      if (status) status.textContent = text;
      if (text && window.studioAnnounce) window.studioAnnounce(text);
    }
    copy(field).then(
      function () { say("Copied"); },
      function () { field.select(); say("Press Ctrl+C to copy"); }
    );
    setTimeout(function () { say(""); }, 3000);
  });
  function show(root) {
    root.querySelectorAll("button[data-copy]").forEach(function (button) { button.hidden = false; });
  }
  document.addEventListener("DOMContentLoaded", function () { show(document); });
  // A share link swapped in by htmx brings its own copy button.
  document.addEventListener("htmx:load", function (event) { show(event.target.parentElement || document); });
})();
