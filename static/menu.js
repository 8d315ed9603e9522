// The top bar on a narrow screen: the navigation (team switcher included) folds into a menu
// opened by the "Menu" button. Without JavaScript the button stays hidden and the bar wraps.
(function () {
  var toggle = document.querySelector(".menu-toggle");
  if (!toggle) return;
  var bar = toggle.closest(".topbar");
  function set(open) {
    toggle.setAttribute("aria-expanded", open ? "true" : "false");
    bar.classList.toggle("menu-open", open);
  }
  toggle.addEventListener("click", function () {
    set(toggle.getAttribute("aria-expanded") !== "true");
  });
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && toggle.getAttribute("aria-expanded") === "true") {
      set(false);
      toggle.focus();
    }
  });
  toggle.hidden = false;
  bar.classList.add("menu-ready");
})();
