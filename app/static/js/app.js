// Small helps on every page; every one of them is checked again by the server, and the pages work without them.
(() => {
  if (window.vendingApp) return; // loaded once per page, whichever template asked for it
  window.vendingApp = true;

  // Money as the server writes it: euros in the page's locale (data-locale, from Accept-Language).
  const locale = document.documentElement.dataset.locale || "en";
  let currency;
  try {
    currency = new Intl.NumberFormat(locale, { style: "currency", currency: "EUR" });
  } catch {
    currency = new Intl.NumberFormat("en", { style: "currency", currency: "EUR" });
  }
  const euros = (cents) => currency.format(cents / 100);

  // The browser's time zone, sent with the login and registration forms: the pages show times in it.
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "";
  for (const input of document.querySelectorAll("input[data-time-zone]")) input.value = zone;

  // A receipt's Print button (hidden without JavaScript).
  for (const button of document.querySelectorAll("[data-print]")) {
    button.hidden = false;
    button.addEventListener("click", () => window.print());
  }

  // Prices typed in euros: a live preview of what the machine will charge, and whether it can (5-cent steps).
  const EURO = /^\s*€?\s*([0-9]{1,6})(?:[.,]([0-9]{1,2}))?\s*$/;
  for (const input of document.querySelectorAll("[data-euro-input]")) {
    const preview = document.getElementById(input.dataset.euroInput);
    const show = () => {
      const match = EURO.exec(input.value);
      if (!input.value.trim()) {
        preview.textContent = "";
      } else if (!match) {
        preview.textContent = "Type the price in euros, e.g. 0.35";
      } else {
        const cents = Number(match[1]) * 100 + Number((match[2] || "0").padEnd(2, "0"));
        preview.textContent = cents % 5 || cents === 0
          ? `${euros(cents)} is not a multiple of 5 cents: try ${euros(Math.max(5, cents - (cents % 5)))} or ${euros(cents - (cents % 5) + 5)}`
          : `Buyers pay ${euros(cents)}`;
      }
    };
    input.addEventListener("input", show);
    show();
  }

  // Collecting coins: what the floats typed so far would take out of the tubes (the server shows it again
  // on the confirmation step, from the tubes as they are then).
  const collectPreview = document.getElementById("collect-preview");
  if (collectPreview) {
    const inputs = document.querySelectorAll("[data-collect-coin]");
    const show = () => {
      let cents = 0;
      for (const input of inputs) {
        const keep = Number(input.value);
        if (input.value.trim() === "" || !Number.isInteger(keep) || keep < 0) {
          collectPreview.textContent = "Type a whole number of coins to keep in each tube.";
          return;
        }
        cents += Math.max(0, Number(input.dataset.tube) - keep) * Number(input.dataset.collectCoin);
      }
      collectPreview.textContent = cents
        ? `Collecting takes ${euros(cents)} out of the tubes.`
        : "Nothing to collect: no tube holds more than that.";
    };
    for (const input of inputs) input.addEventListener("input", show);
  }

  // A new password judged as it is typed, with zxcvbn's own feedback (app/static/vendor/zxcvbn, loaded on the
  // first keystroke); the server judges it again, with the same score to pass.
  for (const input of document.querySelectorAll("[data-password-feedback]")) {
    const feedback = document.getElementById(input.dataset.passwordFeedback);
    const username = document.getElementById(input.dataset.usernameField);
    const minScore = Number(input.dataset.minScore);
    const minLength = Number(input.dataset.minLength);
    const WORDS = ["very weak", "weak", "fair", "strong", "very strong"];
    let loading = null;
    const load = () => {
      loading ||= new Promise((resolve, reject) => {
        const script = document.createElement("script");
        script.src = input.dataset.zxcvbn;
        script.onload = resolve;
        script.onerror = reject;
        document.head.append(script);
      });
      return loading;
    };
    const show = async () => {
      const password = input.value;
      if (!password) {
        feedback.replaceChildren();
        return;
      }
      try {
        await load();
      } catch {
        return; // no live feedback: the server still judges the password
      }
      if (input.value !== password) return; // typed on meanwhile: that keystroke shows its own
      // The server judges the first 72 characters too (zxcvbn slows down fast with length).
      const result = window.zxcvbn(password.slice(0, 72), username && username.value ? [username.value] : []);
      const refused = password.length < minLength || result.score < minScore;
      const lines = [];
      const verdict = document.createElement("div");
      verdict.className = refused ? "text-danger-emphasis fw-semibold" : "text-success-emphasis fw-semibold";
      verdict.textContent = password.length < minLength
        ? `Too short: ${password.length} of at least ${minLength} characters.`
        : `Strength: ${WORDS[result.score]}${refused ? " — this password would be refused." : "."}`;
      lines.push(verdict);
      if (result.feedback.warning) {
        const warning = document.createElement("div");
        warning.textContent = result.feedback.warning;
        lines.push(warning);
      }
      for (const suggestion of result.feedback.suggestions) {
        const line = document.createElement("div");
        line.textContent = suggestion;
        lines.push(line);
      }
      feedback.replaceChildren(...lines);
    };
    input.addEventListener("focus", () => { load().catch(() => {}); }, { once: true });
    input.addEventListener("input", show);
    if (username) username.addEventListener("change", show);
  }

  // A picture over the size limit is refused before it is sent (the server refuses it too).
  for (const input of document.querySelectorAll("input[type=file][data-max-bytes]")) {
    const limit = Number(input.dataset.maxBytes);
    let feedback = input.parentElement.querySelector(".invalid-feedback");
    if (!feedback) {
      feedback = document.createElement("div");
      feedback.className = "invalid-feedback";
      input.insertAdjacentElement("afterend", feedback);
    }
    feedback.id ||= `${input.id}-error`;
    const described = (input.getAttribute("aria-describedby") || "").split(" ").filter(Boolean);
    const check = () => {
      const file = input.files && input.files[0];
      const tooLarge = Boolean(file && file.size > limit);
      input.classList.toggle("is-invalid", tooLarge);
      if (tooLarge) {
        feedback.textContent = input.dataset.tooLarge;
        feedback.classList.add("d-block");
        input.setAttribute("aria-describedby", [...new Set([...described, feedback.id])].join(" "));
        input.setAttribute("aria-invalid", "true");
      } else {
        input.removeAttribute("aria-invalid");
      }
      return !tooLarge;
    };
    input.addEventListener("change", check);
    if (input.files && input.files.length) check(); // chosen before this script ran
    input.form.addEventListener("submit", (event) => {
      if (!check()) {
        event.preventDefault();
        input.focus();
      }
    });
  }
})();
