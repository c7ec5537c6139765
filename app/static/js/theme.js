// Colour mode (Bootstrap 5.3 data-bs-theme): the system's setting, or the one chosen with the toggle,
// remembered in localStorage. Loaded in <head> so that the page never flashes in the other mode.
(() => {
  const KEY = "vending-theme";
  const media = window.matchMedia("(prefers-color-scheme: dark)");
  const stored = () => {
    try { return localStorage.getItem(KEY); } catch { return null; }
  };
  const current = () => stored() || (media.matches ? "dark" : "light");
  const apply = (theme) => {
    document.documentElement.setAttribute("data-bs-theme", theme);
    document.dispatchEvent(new CustomEvent("vending:theme", { detail: theme }));
  };

  apply(current());
  media.addEventListener("change", () => { if (!stored()) apply(current()); });

  document.addEventListener("DOMContentLoaded", () => {
    for (const button of document.querySelectorAll("[data-theme-toggle]")) {
      const label = () => button.setAttribute("aria-pressed", String(current() === "dark"));
      button.hidden = false;
      label();
      button.addEventListener("click", () => {
        const next = current() === "dark" ? "light" : "dark";
        try { localStorage.setItem(KEY, next); } catch { /* private mode: for this page only */ }
        apply(next);
        label();
      });
    }
  });
})();
