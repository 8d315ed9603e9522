// Live character counters for fields with a data-limit. Delegated, so forms swapped in
// by htmx need no re-initialisation.
(function () {
  function update(field) {
    var counter = document.querySelector('[data-counter-for="' + field.id + '"]');
    if (!counter) return;
    var limit = parseInt(field.dataset.limit, 10);
    var length = field.value.length;
    counter.querySelector(".count").textContent = length.toLocaleString("en");
    counter.classList.toggle("over", length > limit);
    counter.classList.toggle("near", length <= limit && length > limit * 0.9);
  }
  function updateAll(root) {
    (root || document).querySelectorAll("textarea[data-limit]").forEach(update);
  }
  document.addEventListener("input", function (event) {
    if (event.target.matches && event.target.matches("textarea[data-limit]")) update(event.target);
  });
  document.addEventListener("DOMContentLoaded", function () { updateAll(document); });
  document.addEventListener("htmx:load", function (event) { updateAll(event.target); });
})();

// Iterating on a prompt: Ctrl/Cmd+Enter in the create form's text fields submits it, once;
// while its request is on its way no other submit leaves (a second press, a click). After a
// successful send the form comes back with what was typed, the focus returns to the prompt
// and the new card is scrolled into view.
(function () {
  // htmx marks a form with `htmx-request` from the moment it sends until the answer is
  // handled; a swapped-in form is a new element, free to send again.
  function inFlight(form) {
    return form.id === "generation-form" && form.classList.contains("htmx-request");
  }
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Enter" || !(event.ctrlKey || event.metaKey)) return;
    var field = event.target;
    if (!field.matches || !field.matches("#generation-form textarea")) return;
    event.preventDefault();
    if (event.repeat || inFlight(field.form)) return;
    field.form.requestSubmit();
  });
  // Capture, so a submit while one is in flight stops before htmx (or the browser) sees it.
  document.addEventListener("submit", function (event) {
    if (inFlight(event.target)) {
      event.preventDefault();
      event.stopImmediatePropagation();
    }
  }, true);
  // The shortcut's hint is hidden in the markup: without JavaScript there is no shortcut.
  function showHint() {
    var hint = document.getElementById("generate-shortcut");
    if (hint) hint.hidden = false;
  }
  document.addEventListener("DOMContentLoaded", showHint);
  document.addEventListener("htmx:load", showHint);
  document.addEventListener("htmx:load", function (event) {
    var form = event.target;
    if (!form.matches || !form.matches("#generation-form[data-sent]")) return;
    // After the swap has settled, so the new card (swapped out of band) is in place.
    setTimeout(function () {
      var prompt = form.querySelector("textarea[name=prompt]");
      if (prompt && document.body.contains(prompt)) {
        prompt.focus({ preventScroll: true });
        prompt.setSelectionRange(prompt.value.length, prompt.value.length);
      }
      var card = document.getElementById("generation-" + form.dataset.sent);
      if (card) card.scrollIntoView({ block: "nearest" });
    }, 0);
  });
})();
