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
