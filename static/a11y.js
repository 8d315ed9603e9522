// Accessibility of the live page: the page's one polite live region (#live-region), fields
// described by their errors and counters, and the focus after an htmx swap, which must never
// fall to the page's body.
(function () {
  // Says a short sentence in the live region. Emptied first, so the same words said twice
  // are read twice.
  var pending;
  function announce(text) {
    var region = document.getElementById("live-region");
    if (!region || !text) return;
    region.textContent = "";
    clearTimeout(pending);
    pending = setTimeout(function () { region.textContent = text; }, 100);
  }
  window.studioAnnounce = announce;

  // A field with an error is marked invalid and described by the error (and by its character
  // counter), so a screen reader reads them when the field gets the focus.
  var errorIds = 0;
  function addDescription(field, id) {
    var ids = (field.getAttribute("aria-describedby") || "").split(/\s+/).filter(Boolean);
    if (ids.indexOf(id) === -1) ids.push(id);
    field.setAttribute("aria-describedby", ids.join(" "));
  }
  function describe(root) {
    root.querySelectorAll("[data-counter-for]").forEach(function (counter) {
      var field = document.getElementById(counter.dataset.counterFor);
      if (field && counter.id) addDescription(field, counter.id);
    });
    root.querySelectorAll(".has-error").forEach(function (container) {
      var errors = container.querySelectorAll(".field-error");
      var fields = container.querySelectorAll("input:not([type=hidden]), textarea, select");
      errors.forEach(function (error) {
        if (!error.id || document.querySelectorAll("#" + CSS.escape(error.id)).length > 1) {
          error.id = "field-error-" + ++errorIds;
        }
        fields.forEach(function (field) { addDescription(field, error.id); });
      });
      fields.forEach(function (field) { field.setAttribute("aria-invalid", "true"); });
    });
  }
  document.addEventListener("DOMContentLoaded", function () { describe(document); });
  document.addEventListener("htmx:load", function (event) { describe(event.target); });

  // What an htmx answer's messages say, in the live region; an error is an alert of its own.
  document.addEventListener("htmx:load", function (event) {
    if (event.target.id !== "messages") return;
    var said = [];
    event.target.querySelectorAll(".message:not([role=alert])").forEach(function (message) {
      said.push(message.textContent.trim());
    });
    announce(said.join(" "));
  });

  // The focus after a swap. Before it, note where the focus was; after it has settled, if the
  // focus fell to the body, put it on the first invalid field, else on the swapped element
  // (or what replaced it), else on its neighbour, else on the page's main content.
  var lost = null;
  function focusable(element) {
    return element.matches("a[href], button, input, select, textarea, video[controls], [tabindex]") && !element.disabled;
  }
  function place(element) {
    if (element.matches(".card, .gallery-card") || !focusable(element)) {
      var control = element.matches(".card, .gallery-card")
        ? null
        : element.querySelector("a[href], button:not([disabled]):not([hidden]), input:not([type=hidden]), textarea, select");
      if (control) element = control;
      else if (!focusable(element)) element.setAttribute("tabindex", "-1");
    }
    element.focus({ preventScroll: true });
  }
  function note(target) {
    var active = document.activeElement;
    if (!target || !active || active === document.body || !target.contains(active)) return null;
    var holder = active.closest("[id]");
    if (!holder || !target.contains(holder)) holder = target;
    var neighbour = holder.nextElementSibling || holder.previousElementSibling;
    return { id: holder.id, neighbour: neighbour && neighbour.id, target: target.id };
  }
  // Noted when the request leaves too: a button disabled while it is on its way loses the focus.
  document.addEventListener("htmx:beforeRequest", function (event) {
    lost = note(event.detail.target);
  });
  // A card swapped in out of band (the page's poller) may hold the focus too.
  document.addEventListener("htmx:oobBeforeSwap", function (event) {
    lost = note(event.detail.target) || lost;
  });
  document.addEventListener("htmx:beforeSwap", function (event) {
    lost = note(event.detail.target) || (lost && event.detail.target && lost.target === event.detail.target.id ? lost : null);
  });
  document.addEventListener("htmx:afterSettle", function () {
    var was = lost;
    lost = null;
    if (!was) return;
    setTimeout(function () {
      var active = document.activeElement;
      if (active && active !== document.body && document.body.contains(active)) return;
      var area = document.getElementById(was.id) || document.getElementById(was.target);
      var invalid = (area || document).querySelector("[aria-invalid=true]");
      var next = invalid || area || (was.neighbour && document.getElementById(was.neighbour));
      if (next) place(next);
      else place(document.getElementById("main"));
    }, 0);
  });
})();
