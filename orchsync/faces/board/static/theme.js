/* Runs before the page paints: applies the theme chosen with the toggle (else the system's). */
(function () {
  try {
    var t = localStorage.getItem("orchsync-theme");
    if (t === "dark" || t === "light") document.documentElement.dataset.theme = t;
  } catch (e) { /* storage disabled: follow the system */ }
})();
