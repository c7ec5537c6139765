// Colour mode (Bootstrap 5.3 data-bs-theme): the system's setting, or the one chosen with the switch,
// remembered in localStorage. Loaded in <head> so that the page never flashes in the other mode.
// The switch ("Dark mode", role=switch) is on while the page is dark, whichever chose it; hidden without JavaScript.
(() => {
  const KEY = "vending-theme";
  const media = window.matchMedia("(prefers-color-scheme: dark)");
  const stored = () => {
    try { return localStorage.getItem(KEY); } catch { return null; }
  };
  const current = () => stored() || (media.matches ? "dark" : "light");
  const switches = () => document.querySelectorAll("[data-theme-toggle]");
  const apply = (theme) => {
    document.documentElement.setAttribute("data-bs-theme", theme);
    for (const toggle of switches()) toggle.checked = theme === "dark";
    document.dispatchEvent(new CustomEvent("vending:theme", { detail: theme }));
  };

  apply(current());
  media.addEventListener("change", () => { if (!stored()) apply(current()); });

  document.addEventListener("DOMContentLoaded", () => {
    for (const item of document.querySelectorAll("[data-theme-switch]")) item.hidden = false;
    for (const toggle of switches()) {
      toggle.checked = current() === "dark";
      toggle.addEventListener("change", () => {
        const next = toggle.checked ? "dark" : "light";
        try { localStorage.setItem(KEY, next); } catch { /* private mode: for this page only */ }
        apply(next);
      });
    }
  });
})();
